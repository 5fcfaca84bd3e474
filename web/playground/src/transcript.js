// The conversation as the page shows it: one line per segment of speech (user or agent) or per
// chat message. Transcriptions arrive as text streams on `lk.transcription`; a segment is keyed
// by who spoke and `lk.segment_id`, and a later stream for the same key replaces its text
// (interim -> final). Who spoke: the owner of `lk.transcribed_track_id` when it is set, else
// the stream's sender.

export const ATTR_FINAL = 'lk.transcription_final';
export const ATTR_SEGMENT = 'lk.segment_id';
export const ATTR_TRACK = 'lk.transcribed_track_id';

export class Transcript {
  constructor(element) {
    this.element = element;
    this.entries = [];
    this.byKey = new Map();
  }

  clear() {
    this.entries = [];
    this.byKey.clear();
    this.element.replaceChildren();
  }

  // A new line, or the line of `key` reset to start again (a later stream of one segment).
  line(key, { speaker, who, kind }) {
    let entry = key ? this.byKey.get(key) : undefined;
    if (!entry) {
      entry = { key, speaker, who, kind, text: '', final: false, node: document.createElement('div') };
      entry.node.className = 'line';
      entry.node.dataset.speaker = speaker;
      entry.node.dataset.kind = kind;
      const label = document.createElement('span');
      label.className = 'who';
      label.textContent = who;
      const text = document.createElement('span');
      text.className = 'text';
      entry.node.append(label, text);
      this.entries.push(entry);
      if (key) this.byKey.set(key, entry);
      this.element.append(entry.node);
    }
    entry.text = '';
    entry.final = false;
    this.render(entry);
    return entry;
  }

  append(entry, text) {
    entry.text += text;
    this.render(entry);
  }

  finish(entry, final = true) {
    entry.final = final;
    this.render(entry);
  }

  say(speaker, who, text, kind = 'chat') {
    const entry = this.line(null, { speaker, who, kind });
    entry.text = text;
    this.finish(entry);
    return entry;
  }

  // An agent's chat message that repeats what its transcription already shows (lkx sends a
  // typed question's answer both ways): the recent agent line it repeats, if any.
  repeated(text) {
    const wanted = text.trim();
    return this.entries
      .slice(-6)
      .find((e) => e.speaker === 'agent' && e.kind === 'speech' && wanted.startsWith(e.text.trim()) && e.text.trim());
  }

  render(entry) {
    entry.node.dataset.final = String(entry.final);
    entry.node.querySelector('.text').textContent = entry.text;
    this.element.scrollTop = this.element.scrollHeight;
  }
}
