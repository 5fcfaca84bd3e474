// The lkx playground: pick an agent, join a fresh room whose token brings it, talk and type,
// see both sides' transcripts and the agent's state, hear it.
import { DisconnectReason, ParticipantKind, Room, RoomEvent, Track } from 'livekit-client';

import { createSession, getAgents, getStatus } from './api.js';
import { LevelMeter } from './level.js';
import { ATTR_FINAL, ATTR_SEGMENT, ATTR_TRACK, Transcript } from './transcript.js';

const ATTR_STATE = 'lk.agent.state';
const AGENT_WAIT_MS = 30000;
const AUDIBLE = 0.01; // RMS above which the agent is heard

const $ = (id) => document.getElementById(id);
const ui = {
  agent: $('agent'),
  join: $('join'),
  mute: $('mute'),
  leave: $('leave'),
  again: $('new-room'),
  notice: $('notice'),
  status: $('status'),
  state: $('agent-state'),
  level: $('agent-level'),
  room: $('room-info'),
  chat: $('chat'),
  message: $('message'),
  send: $('send'),
};
const transcript = new Transcript($('transcript'));

// What the page knows, also for tests and for people in the devtools console.
const view = {
  phase: 'idle', // idle | joining | waiting | ready | left | failed
  agentState: '',
  agentStates: [], // every state the agent showed, in order
  agentPeak: 0,
  timings: {},
  timeline: [], // [ms after the click, what]: agent states, its voice starting and stopping
  streams: [], // the text streams received: topic, sender, attributes (the newest 50)
  session: null,
};
window.lkxPlayground = view;

let room = null;
let meter = null;
view.microphoneOn = () => Boolean(room?.localParticipant.isMicrophoneEnabled);
let clickedAt = 0;
let leaving = false;
let agentIdentity = '';

function notice(text, kind = 'error') {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = !text;
}

function mark(name) {
  if (view.timings[name] === undefined) {
    view.timings[name] = Math.round(performance.now() - clickedAt);
  }
}

function setPhase(phase, status) {
  view.phase = phase;
  document.body.dataset.phase = phase;
  ui.status.textContent = status;
  const inRoom = ['joining', 'waiting', 'ready'].includes(phase);
  ui.join.disabled = inRoom || !ui.agent.value;
  ui.agent.disabled = inRoom;
  ui.leave.disabled = !inRoom;
  ui.again.disabled = phase === 'idle' || phase === 'joining';
  ui.mute.disabled = phase !== 'ready' || !selectedAgent()?.voice;
  const canType = phase === 'ready';
  ui.message.disabled = !canType;
  ui.send.disabled = !canType;
}

function note(what) {
  view.timeline.push([Math.round(performance.now() - clickedAt), what]);
}

function setAgentState(state) {
  if (state && state !== view.agentState) {
    view.agentStates.push(state);
    note(`state ${state}`);
  }
  view.agentState = state;
  ui.state.dataset.state = state;
  ui.state.textContent = state || 'no agent';
}

let agents = [];
function selectedAgent() {
  return agents.find((a) => a.name === ui.agent.value);
}

// The served agents, read again while no conversation runs (a saved YAML file may add one).
async function loadAgents() {
  try {
    const answer = await getAgents();
    if (JSON.stringify(answer.agents) === JSON.stringify(agents) && ui.agent.options.length) return;
    agents = answer.agents;
    const keep = ui.agent.value;
    ui.agent.replaceChildren(
      ...agents.map((a) => new Option(`${a.name} (${a.voice ? 'voice' : 'text'})`, a.name)),
    );
    if (agents.some((a) => a.name === keep)) ui.agent.value = keep;
    if (!agents.length) {
      notice('No agent file validates: fix the errors lkx dev printed, then reload this page.');
    }
  } catch (error) {
    notice(error.message);
  }
  setPhase(view.phase, ui.status.textContent);
}

function isAgent(participant) {
  return participant.kind === ParticipantKind.AGENT || participant.isAgent;
}

function speakerOf(attributes, identity) {
  const track = attributes[ATTR_TRACK];
  if (track && room.localParticipant.trackPublications.has(track)) return 'user';
  if (track) {
    for (const participant of room.remoteParticipants.values()) {
      if (participant.trackPublications.has(track)) return isAgent(participant) ? 'agent' : 'other';
    }
  }
  if (identity === room.localParticipant.identity) return 'user';
  const sender = room.remoteParticipants.get(identity);
  return sender && !isAgent(sender) ? 'other' : 'agent';
}

function labelOf(speaker, identity) {
  if (speaker === 'user') return 'You';
  if (speaker === 'agent') return view.session?.agent ?? 'Agent';
  return identity;
}

function logStream(reader, identity) {
  const { id, topic, attributes } = reader.info;
  view.streams.push({ id, topic, identity, attributes: { ...attributes } });
  view.streams.splice(0, view.streams.length - 50);
}

async function onTranscription(reader, { identity }) {
  logStream(reader, identity);
  const attributes = reader.info.attributes ?? {};
  const speaker = speakerOf(attributes, identity);
  const segment = attributes[ATTR_SEGMENT] || reader.info.id;
  const entry = transcript.line(`${speaker}:${identity}:${segment}`, {
    speaker,
    who: labelOf(speaker, identity),
    kind: 'speech',
  });
  try {
    for await (const chunk of reader) transcript.append(entry, chunk);
  } catch (error) {
    // the sender closed the stream abnormally: keep what came
    note(`transcription cut: ${error.message}`);
    return transcript.finish(entry, true);
  }
  // the stream's end may carry attributes (lk.transcription_final=true): the SDK merges them
  const ended = reader.info.attributes ?? {};
  const logged = view.streams.find((stream) => stream.id === reader.info.id);
  if (logged) logged.ended = { ...ended };
  // an agent's own speech is one stream per segment, final when it ends; a user's segment may
  // come as interim streams before the final one
  transcript.finish(entry, ended[ATTR_FINAL] === 'true' || speaker === 'agent');
}

async function onChat(reader, { identity }) {
  logStream(reader, identity);
  let text;
  try {
    text = await reader.readAll();
  } catch (error) {
    return note(`chat cut: ${error.message}`);
  }
  if (identity === room?.localParticipant.identity) return;
  const speaker = speakerOf({}, identity);
  if (speaker === 'agent') {
    if (transcript.repeated(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 600)); // its transcription may lag
    if (transcript.repeated(text)) return;
  }
  transcript.say(speaker, labelOf(speaker, identity), text);
}

function onAgentAudio(track) {
  const element = track.attach();
  element.id = 'agent-audio';
  document.body.append(element);
  meter?.close();
  let audible = false;
  let quietSince = 0;
  meter = new LevelMeter(track.mediaStreamTrack, (level) => {
    view.agentPeak = Math.max(view.agentPeak, level);
    ui.level.style.width = `${Math.min(100, Math.round(level * 400))}%`;
    const now = performance.now();
    if (level > AUDIBLE) {
      mark('firstAgentAudio');
      quietSince = 0;
      if (!audible) note('voice starts');
      audible = true;
    } else if (audible && (quietSince ||= now) && now - quietSince > 150) {
      note('voice stops');
      audible = false;
    }
  });
}

function onAgentSeen(participant) {
  if (!isAgent(participant)) return;
  agentIdentity = participant.identity;
  mark('agentJoined');
  const state = participant.attributes[ATTR_STATE];
  if (state) {
    mark('agentReady');
    setAgentState(state);
    if (view.phase === 'waiting') {
      notice('');
      const voice = selectedAgent()?.voice;
      setPhase('ready', voice ? 'talk, or type below' : 'type below (a text agent)');
      if (voice) openMicrophone(room);
    }
  } else {
    setAgentState('joining');
  }
}

function wire(current) {
  current.registerTextStreamHandler('lk.transcription', onTranscription);
  current.registerTextStreamHandler('lk.chat', onChat);
  current
    .on(RoomEvent.ParticipantConnected, onAgentSeen)
    .on(RoomEvent.ParticipantAttributesChanged, (_, participant) => onAgentSeen(participant))
    .on(RoomEvent.TrackSubscribed, (track, _, participant) => {
      if (track.kind === Track.Kind.Audio && isAgent(participant)) onAgentAudio(track);
    })
    .on(RoomEvent.ParticipantDisconnected, (participant) => {
      if (participant.identity !== agentIdentity || leaving) return;
      setAgentState('gone');
      setPhase('failed', 'the agent left');
      notice('The agent left the room (it may have failed: the lkx dev terminal says why). Start a new room to talk again.');
    })
    .on(RoomEvent.AudioPlaybackStatusChanged, () => {
      if (!current.canPlaybackAudio) {
        notice('The browser blocked the agent\'s audio: click anywhere to hear it.', 'info');
        document.addEventListener('click', () => current.startAudio().then(() => notice('')), { once: true });
      }
    })
    .on(RoomEvent.Reconnecting, () => {
      if (current === room) notice('Lost the connection to the LiveKit server: reconnecting…', 'info');
    })
    .on(RoomEvent.Reconnected, () => {
      if (current === room) notice('');
    })
    .on(RoomEvent.Disconnected, (reason) => {
      if (leaving || current !== room) return;
      setPhase('failed', 'disconnected');
      notice(`Disconnected from the LiveKit server (${reasonText(reason)}). Is it still running? Start a new room to try again.`);
    });
}

function reasonText(reason) {
  const name = DisconnectReason[reason];
  return name ? name.toLowerCase().replaceAll('_', ' ') : 'no reason given';
}

// While a session lasts, ask lkx dev how things stand (every second while waiting for the
// agent, every two once it is here): the page says why no agent comes, and that the server is
// gone sooner than the SDK notices (it waits for a ping timeout, ~15 s).
async function watch(session) {
  const started = performance.now();
  let serverLost = false;
  while (room && view.session === session && ['waiting', 'ready'].includes(view.phase)) {
    let status = null;
    try {
      status = await getStatus(session.room, session.agent);
    } catch {
      // lkx dev itself is gone: the deadline below says so
    }
    if (view.session !== session) return;
    if (view.phase === 'ready') {
      if (status && !status.server.ok) {
        serverLost = true;
        notice(`The LiveKit server went away: ${status.server.error}.`);
      } else if (status && serverLost) {
        serverLost = false;
        notice('');
      }
    } else if (view.phase === 'waiting') {
      const waited = performance.now() - started;
      if (status && !status.server.ok) {
        return fail(`The LiveKit server went away: ${status.server.error}.`);
      }
      if (status && status.job.state === 'failed') {
        return fail(`The agent '${session.agent}' failed to start in this room: ${status.job.error || 'see the lkx dev terminal'}. Fix it, save, and start a new room.`);
      }
      if (status && status.worker.known && !status.worker.serving && waited > 5000) {
        notice(`Waiting for a worker that serves '${session.agent}': the lkx dev worker is not running it (see its terminal for errors).`, 'info');
      }
      if (waited > AGENT_WAIT_MS) {
        return fail(`No agent came within ${AGENT_WAIT_MS / 1000} s. Check the lkx dev terminal: the worker may not be running or '${session.agent}' may not load.`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, view.phase === 'ready' ? 2000 : 1000));
  }
}

function fail(message) {
  setPhase('failed', 'no agent');
  setAgentState('');
  notice(message);
}

async function join() {
  const agent = ui.agent.value;
  if (!agent) return;
  if (room) await leave(); // a room kept after a failure, or New room
  clickedAt = performance.now();
  view.timings = {};
  view.timeline = [];
  view.streams = [];
  view.agentStates = [];
  view.agentPeak = 0;
  agentIdentity = '';
  ui.mute.textContent = 'Mute';
  ui.mute.setAttribute('aria-pressed', 'false');
  notice('');
  transcript.clear();
  setAgentState('');
  setPhase('joining', 'creating a room');
  let session;
  try {
    session = await createSession(agent);
  } catch (error) {
    setPhase('failed', 'no room');
    return notice(`Cannot start a session: ${error.message}.`);
  }
  mark('session');
  view.session = session;
  ui.room.textContent = `room ${session.room} as ${session.identity}`;
  const current = new Room({ adaptiveStream: false, dynacast: false });
  room = current;
  leaving = false;
  wire(current);
  setPhase('joining', 'connecting');
  try {
    await current.connect(session.url, session.token);
  } catch (error) {
    room = null;
    setPhase('failed', 'not connected');
    return notice(`Cannot connect to the LiveKit server at ${session.url}: ${error.message}. Is it running?`);
  }
  mark('connected');
  setPhase('waiting', `waiting for ${agent}`);
  for (const participant of current.remoteParticipants.values()) onAgentSeen(participant);
  watch(session);
}

// The microphone goes live once the agent can hear it: LiveKit drops what is sent to an agent
// before its own connection is up (it shows `lk.agent.state` from then on).
async function openMicrophone(current) {
  try {
    await current.localParticipant.setMicrophoneEnabled(true);
    mark('microphone');
  } catch (error) {
    notice(`No microphone (${error.message}): you can still type.`, 'info');
  }
}

async function leave() {
  leaving = true;
  meter?.close();
  meter = null;
  $('agent-audio')?.remove();
  ui.level.style.width = '0%';
  const current = room;
  room = null;
  view.session = null;
  await current?.disconnect();
  setAgentState('');
  setPhase('left', 'left the room');
}

async function toggleMute() {
  const enabled = room.localParticipant.isMicrophoneEnabled;
  await room.localParticipant.setMicrophoneEnabled(!enabled);
  ui.mute.textContent = enabled ? 'Unmute' : 'Mute';
  ui.mute.setAttribute('aria-pressed', String(enabled));
}

async function send(event) {
  event.preventDefault();
  const text = ui.message.value.trim();
  if (!text || !room) return;
  ui.message.value = '';
  transcript.say('user', 'You', text);
  try {
    await room.localParticipant.sendText(text, { topic: 'lk.chat' });
  } catch (error) {
    notice(`The message was not sent: ${error.message}.`);
  }
}

ui.join.addEventListener('click', join);
ui.leave.addEventListener('click', leave);
ui.again.addEventListener('click', join);
ui.mute.addEventListener('click', toggleMute);
ui.chat.addEventListener('submit', send);
ui.agent.addEventListener('change', () => setPhase(view.phase, ui.status.textContent));
setPhase('idle', 'pick an agent and start');
loadAgents();
setInterval(() => {
  if (!room) loadAgents();
}, 5000);
