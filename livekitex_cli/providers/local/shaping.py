"""Shape a streamed local-model reply for speech: end it after a few sentences, never repeat a
sentence, never let markup through. Text streams on at once except while it looks like a repeat
of an earlier sentence; that part is held back until it proves different."""

from __future__ import annotations

import re

# Anything a chat template, a tool-call format or an HTML escape would put in a reply.
MARKUP = re.compile(r"<\||<tool|</|\{\s*\"|functions\.|&#|&quot;|```|\[TOOL|\bassistant:|\buser:")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def normalise(sentence: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())


class ReplyGuard:
    """Feed it the model's text pieces; emit what it returns; stop generating once ``done``."""

    def __init__(self, max_sentences: int | None = None) -> None:
        self.max_sentences = max_sentences
        self.done = False
        self.stopped_by: str | None = None  # "sentences", "repeat" or "markup"
        self._said: list[str] = []  # complete sentences already emitted, normalised
        self._current = ""  # the sentence under way
        self._held = ""  # its tail, not emitted yet because it may repeat an earlier one
        self._sentences = 0

    def push(self, piece: str) -> str:
        if self.done or not piece:
            return ""
        out: list[str] = []
        text = self._current + piece
        start = len(self._current)
        while not self.done:
            end = _SENTENCE_END.search(text)
            if end is None:
                break
            sentence, rest = text[: end.end()], text[end.end() :]
            out.append(self._take(sentence, max(0, start), complete=True))
            text, start = rest, 0
        if not self.done:
            self._current = ""
            out.append(self._take(text, start, complete=False))
        return "".join(out)

    def finish(self) -> str:
        """What is left once generation ended (a last sentence without a final space)."""
        if self.done:
            return ""
        text = self._current
        self._current = ""
        out = self._take(text, len(text), complete=True) if text.strip() else self._release()
        self.done = True
        return out

    def _take(self, sentence: str, new_from: int, *, complete: bool) -> str:
        """Handle one (possibly partial) sentence of which ``sentence[new_from:]`` is new."""
        new = sentence[new_from:]
        markup = MARKUP.search(sentence)
        if markup is not None:
            return self._stop("markup", keep=sentence[: markup.start()], new_from=new_from)
        key = normalise(sentence)
        if complete:
            if key and key in self._said:
                self._held = ""
                return self._stop("repeat")
            if key:
                self._said.append(key)
                self._sentences += 1
            out = self._release() + new
            if self.max_sentences and self._sentences >= self.max_sentences:
                self.done, self.stopped_by = True, "sentences"
                return out.rstrip()
            return out
        self._current = sentence
        if key and any(said.startswith(key) for said in self._said):
            self._held += new
            return ""
        return self._release() + new

    def _release(self) -> str:
        held, self._held = self._held, ""
        return held

    def _stop(self, why: str, keep: str = "", new_from: int = 0) -> str:
        self.done, self.stopped_by = True, why
        tail = keep[new_from:] if len(keep) > new_from else ""
        return (self._release() + tail).rstrip() if why == "markup" else ""
