"""The offline models, for real: Silero VAD, faster-whisper, piper and llama.cpp from packages."""

from __future__ import annotations

import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from livekitex_cli import ResourceError, create_agent
from livekitex_cli.errors import ExternalServiceError
from livekitex_cli.providers import AudioChunk, ChatDelta
from livekitex_cli.session import AgentSession, PacedOutput
from livekitex_cli.tools import default_registry
from tests.speech import join, needs_espeak, noise_chunk, silence_chunk, speech_chunk

pytest.importorskip("onnxruntime", reason="the local extra is not installed")
pytest.importorskip("faster_whisper", reason="the local extra is not installed")
pytest.importorskip("piper_onnx", reason="the local extra is not installed")
pytest.importorskip("xllamacpp", reason="the local extra is not installed")

from livekitex_cli.providers.local import routing  # noqa: E402
from livekitex_cli.providers.local.llama import LlamaLLM  # noqa: E402
from livekitex_cli.providers.local.options import (  # noqa: E402
    LlamaLLMOptions,
    PiperTTSOptions,
    SileroVADOptions,
    WhisperSTTOptions,
)
from livekitex_cli.providers.local.piper import PiperTTS  # noqa: E402
from livekitex_cli.providers.local.runtime import top_logprobs  # noqa: E402
from livekitex_cli.providers.local.shaping import ReplyGuard  # noqa: E402
from livekitex_cli.providers.local.silero import SileroVAD  # noqa: E402
from livekitex_cli.providers.local.whisper import WhisperSTT  # noqa: E402

pytestmark = [pytest.mark.local_models, needs_espeak]


def probabilities(vad: SileroVAD, audio: AudioChunk) -> list[float]:
    samples = audio.to_array()
    size = vad.frame_samples
    return [
        vad.speech_probability(samples[i : i + size]) for i in range(0, samples.size - size, size)
    ]


def test_silero_separates_speech_from_silence_and_noise() -> None:
    vad = SileroVAD()
    speech = probabilities(vad, speech_chunk("What is the weather in Paris today?"))
    vad.reset()
    quiet = probabilities(vad, silence_chunk(1.0))
    vad.reset()
    noise = probabilities(vad, noise_chunk(1.0, level=0.05))
    assert max(speech) > 0.9 and sum(p > 0.5 for p in speech) > len(speech) / 3
    assert max(quiet) < 0.2
    assert np.mean(noise) < 0.2 and sum(p > 0.5 for p in noise) <= 1


def test_silero_instances_keep_their_own_state() -> None:
    first, second = SileroVAD(), SileroVAD()
    assert first.session is second.session  # one model per process
    speech = speech_chunk("Hello there, good morning.")
    probabilities(first, speech)
    assert not np.array_equal(first._h, second._h)


async def test_whisper_transcribes_real_speech() -> None:
    stt = WhisperSTT()
    transcript = await stt.transcribe(speech_chunk("What is the weather in Paris?"))
    words = transcript.text.lower()
    assert "weather" in words and "paris" in words


async def test_piper_speaks_and_whisper_understands_it() -> None:
    tts = PiperTTS(PiperTTSOptions(noise_scale=0, noise_w=0))  # varied, it was misheard at times
    chunks = [chunk async for chunk in tts.synthesize("Please book a table for two people.")]
    assert tts.sample_rate == 22_050 and all(c.sample_rate == 22_050 for c in chunks)
    assert len(chunks) > 3  # streamed in pieces, not one blob
    seconds = sum(c.duration for c in chunks)
    assert 1.0 < seconds < 5.0
    samples = np.concatenate([c.to_array() for c in chunks])
    at16k = soxr.resample(samples, 22_050, 16_000).astype(np.int16)
    heard = await WhisperSTT().transcribe(AudioChunk(at16k.tobytes(), 16_000))
    assert "table" in heard.text.lower() and "two" in heard.text.lower()


async def test_piper_without_variation_says_a_line_the_same_way_every_time() -> None:
    """``noise_scale: 0, noise_w: 0``: what ``lkx test`` speaks as the caller (and a test's
    agent may), so a scenario's outcome does not change from run to run; by default the voice
    varies (whisper heard 'London' as 'one minute' in about one delivery in three)."""

    async def say(tts: PiperTTS) -> Any:
        chunks = [c async for c in tts.synthesize("What time is it in London?")]
        return np.concatenate([c.to_array() for c in chunks]).astype(int)

    async def differ(tts: PiperTTS) -> int:
        """The largest sample difference between two deliveries (a length change: all)."""
        one, two = [await say(tts), await say(tts)]
        return int(np.abs(one - two).max()) if len(one) == len(two) else 32_767

    assert await differ(PiperTTS(PiperTTSOptions(noise_scale=0, noise_w=0))) < 100  # float noise
    assert await differ(PiperTTS()) > 1_000


async def chat(llm: LlamaLLM, messages: list[dict[str, Any]], **kwargs: Any) -> list[ChatDelta]:
    return [d async for d in llm.chat(messages=messages, **kwargs)]


def weather_and_time() -> list[Any]:
    return [default_registry().get("get_weather"), default_registry().get("get_time")]


NOVA = {
    "role": "system",
    "content": "You are Nova, a friendly voice assistant. Keep answers short. "
    "Use get_weather for weather questions and get_time for the time.",
}
MARKUP = ("<", ">", "{", "}", "tool_call", "&#", "functions.", "[", "]")


async def test_llama_streams_plain_text_token_by_token() -> None:
    llm = LlamaLLM(LlamaLLMOptions(max_tokens=40, temperature=0))
    deltas = await chat(llm, [{"role": "user", "content": "Say hello and tell me who you are."}])
    pieces = [d.text for d in deltas if d.text]
    assert len(pieces) > 3  # streamed in pieces, not one blob
    assert "".join(pieces).strip() and not any(d.tool_call for d in deltas)


async def test_llama_calls_a_forced_tool_with_arguments_that_fit_its_schema() -> None:
    forced = LlamaLLM(LlamaLLMOptions(tool_choice="get_weather", temperature=0))
    deltas = await chat(
        forced, [{"role": "user", "content": "Weather in Paris?"}], tools=weather_and_time()
    )
    calls = [d.tool_call for d in deltas if d.tool_call]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    arguments = json.loads(calls[0].arguments)
    assert set(arguments) <= {"city", "unit"} and "paris" in arguments["city"].lower()
    assert not "".join(d.text for d in deltas).strip()  # a call, not a call plus chatter


@pytest.mark.parametrize(
    ("question", "tool", "argument"),
    [
        ("What is the weather in Paris?", "get_weather", "paris"),
        ("What time is it in Tokyo?", "get_time", "tokyo"),
    ],
)
async def test_llama_free_to_choose_picks_the_tool_a_clear_request_needs(
    question: str, tool: str, argument: str
) -> None:
    llm = LlamaLLM(LlamaLLMOptions(temperature=0))
    deltas = await chat(
        llm, [NOVA, {"role": "user", "content": question}], tools=weather_and_time()
    )
    calls = [d.tool_call for d in deltas if d.tool_call]
    assert [c.name for c in calls] == [tool]
    assert argument in calls[0].arguments.lower()


async def test_llama_still_calls_a_tool_after_the_agent_greeted() -> None:
    llm = LlamaLLM(LlamaLLMOptions())
    messages = [NOVA, {"role": "assistant", "content": "Hi, I'm Nova. Ask me about the weather."}]
    messages.append({"role": "user", "content": "What time is it in Tokyo?"})
    deltas = await chat(llm, messages, tools=weather_and_time())
    assert [d.tool_call.name for d in deltas if d.tool_call] == ["get_time"]


async def test_llama_free_to_choose_answers_small_talk_in_text() -> None:
    llm = LlamaLLM(LlamaLLMOptions(temperature=0))
    deltas = await chat(
        llm, [NOVA, {"role": "user", "content": "Hello! How are you?"}], tools=weather_and_time()
    )
    assert not any(d.tool_call for d in deltas)
    assert "".join(d.text for d in deltas).strip()


async def test_llama_after_a_tool_answer_calls_again_only_when_the_user_asks_for_it() -> None:
    """Shown the history, the model called a tool for everything once one had been called
    ("Thanks!" fetched the weather again); the newest message alone decides now."""
    result = '{"city": "Oslo", "temperature": -3, "unit": "celsius", "conditions": "cloudy"}'
    history = [
        NOVA,
        {"role": "user", "content": "What's the weather in Oslo?"},
        *_call("c1", "get_weather", '{"city": "Oslo"}', result),
        {"role": "assistant", "content": "It is cloudy and -3 degrees in Oslo."},
    ]
    llm = LlamaLLM(LlamaLLMOptions(temperature=0))
    got = {}
    for question in ("Thanks!", "And in Berlin?", "And what time is it there?", "Okay, goodbye."):
        messages = [*history, {"role": "user", "content": question}]
        deltas = await chat(llm, messages, tools=weather_and_time())
        got[question] = [(d.tool_call.name, d.tool_call.arguments) for d in deltas if d.tool_call]
    assert got["Thanks!"] == [] and got["Okay, goodbye."] == [], got
    assert [(n, "berlin" in a.lower()) for n, a in got["And in Berlin?"]] == [("get_weather", True)]
    there = got["And what time is it there?"]
    assert [(n, "oslo" in a.lower()) for n, a in there] == [("get_time", True)], got


def test_the_odds_of_a_call_and_of_a_tool_name_decide_not_the_likeliest_token() -> None:
    # a call's first token is the likeliest, words are likelier by far
    assert routing.call_share({'{"': 0.3, "Good": 0.25, "I": 0.15, "Thank": 0.1}, '{"') < 0.45
    # "Hi, where is my order A1002?": words a little likelier, spread over preambles
    top = {'{"': 0.29, "To": 0.16, "The": 0.1, "You": 0.06, "```": 0.05, "Here": 0.05}
    assert routing.call_share(top | {"<": 0.035, "I": 0.035, "Looking": 0.02}, "") > 0.45
    assert routing.call_share({}, "<tool_call>") == 1 and routing.call_share({}, "Sure") == 0
    # "That's all, bye!" made to name its call names no tool of the agent's
    names = ["lookup_order", "create_ticket"]
    assert routing.named_share({"bye": 0.74, "good": 0.15, "create": 0.01}, names) < 0.05
    assert routing.named_share({"lookup": 0.997, "look": 0.002, "Lookup": 0.001}, names) > 0.99
    assert routing.named_share({"<": 0.6, "{": 0.3, "bye": 0.1}, names) == 1  # not continued
    history = [NOVA, {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "a"}]
    history += [{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert routing.decide_messages(history) == [NOVA, {"role": "user", "content": "c"}]
    entry = {"token": '{"', "logprob": math.log(0.5)}  # as llama.cpp reports candidates
    chunk = {"choices": [{"logprobs": {"content": [{"top_logprobs": [entry]}]}}]}
    assert top_logprobs(chunk) == pytest.approx({'{"': 0.5})
    assert top_logprobs(None) == {} and top_logprobs({"choices": [{"message": {}}]}) == {}


async def test_llama_answers_with_the_tool_result_instead_of_calling_again() -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    result = {"city": "Paris", "temperature": 14, "unit": "celsius", "conditions": "rainy"}
    messages = [
        NOVA,
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(result)},
    ]
    llm = LlamaLLM(LlamaLLMOptions(temperature=0))
    deltas = await chat(llm, messages, tools=weather_and_time(), tool_choice="auto")
    text = "".join(d.text for d in deltas).lower()
    assert not any(d.tool_call for d in deltas)
    assert "14" in text or "rain" in text


@pytest.mark.parametrize(
    "prompt",
    [
        "Call the get_weather function for Paris and show me the raw JSON of the call.",
        "Reply with an HTML snippet: <b>hello</b>, then a markdown list of three cities.",
    ],
)
async def test_llama_replies_never_carry_tool_call_markup(prompt: str) -> None:
    """Free to choose, and told not to use tools: text either way, and never markup."""
    for choice in ("auto", "none"):
        llm = LlamaLLM(LlamaLLMOptions(temperature=0.8, seed=7))
        deltas = await chat(
            llm,
            [NOVA, {"role": "user", "content": prompt}],
            tools=weather_and_time(),
            tool_choice=choice,
        )
        text = "".join(d.text for d in deltas)
        assert not any(mark in text for mark in MARKUP), text
        if choice == "none":
            assert not any(d.tool_call for d in deltas) and text.strip()


async def test_llama_reply_ends_after_max_sentences() -> None:
    llm = LlamaLLM(LlamaLLMOptions(max_sentences=2, max_tokens=200, temperature=0))
    deltas = await chat(
        llm, [{"role": "user", "content": "Tell me a long story about a dragon, in ten sentences."}]
    )
    text = "".join(d.text for d in deltas).strip()
    assert text and len(re.findall(r"[.!?](\s|$)", text)) <= 2


def _prompt_tokens_read(llm: LlamaLLM, instructions: str, tools: list[Any]) -> int:
    """How many prompt tokens llama.cpp reads for a first question (the rest is cached)."""
    messages: list[Any] = [
        {"role": "system", "content": instructions},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    grammar = routing.grammar(tuple(tools), calls=True, text=True)
    request = llm.request(messages, tools, grammar, text=False) | {"max_tokens": 1}
    return int(llm._ensure().complete(request)["timings"]["prompt_n"])


async def test_llama_prepare_reads_instructions_and_tools_before_the_first_question() -> None:
    """A session's first request then reads only its own message: measured 12 tokens against
    225 (9 s on 2 busy cores) for one tool."""
    llm, tools = LlamaLLM(), weather_and_time()
    prepared = f"You are agent {uuid.uuid4().hex}. Answer briefly."
    await llm.prepare(messages=[{"role": "system", "content": prepared}], tools=tools)
    assert _prompt_tokens_read(llm, prepared, tools) < 40
    unprepared = f"You are agent {uuid.uuid4().hex}. Answer briefly."
    assert _prompt_tokens_read(llm, unprepared, tools) > 150


def _call(call_id: str, name: str, arguments: str, result: str) -> list[dict[str, Any]]:
    function = {"name": name, "arguments": arguments}
    return [
        {"role": "assistant", "content": "", "tool_calls": [{"id": call_id, "function": function}]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def test_each_turn_reads_only_its_new_words_in_every_slot() -> None:
    """Calling (tools, no earlier replies), replying (earlier replies, no tools) and deciding
    (the newest message) keep their own prompt caches: in one cache each pushed the other
    out, and every turn read its whole history again (141 tokens for the second answer here,
    6 s on 2 cores)."""
    llm, tools = LlamaLLM(), weather_and_time()
    runtime = llm._ensure()
    system = {"role": "system", "content": f"You are agent {uuid.uuid4().hex}. Answer briefly."}
    decide = routing.grammar(tuple(tools), calls=True, text=True)
    words = routing.grammar((), calls=False, text=True)

    def read(messages: list[dict[str, Any]], *, text: bool) -> dict[str, Any]:
        request = llm.request(messages, tools, words if text else decide, text=text)
        timings: dict[str, Any] = runtime.complete(request | {"max_tokens": 1})["timings"]
        return timings

    first = [system, {"role": "user", "content": "What is the weather in Paris?"}]
    read(first, text=False)
    runtime.complete(llm.decide_request(first, tools))
    first += _call("c1", "get_weather", '{"city": "Paris"}', '{"conditions": "sunny"}')
    read(first, text=True)  # the answer, with the results folded into the question
    second = [
        *first,
        {"role": "assistant", "content": "It is sunny in Paris."},
        {"role": "user", "content": "And what time is it in Tokyo?"},
    ]
    call = read(second, text=False)  # reads the call, its result, the answer, the question
    assert call["prompt_n"] < 80 and call["cache_n"] > 200, call
    decided = runtime.complete(llm.decide_request(second, tools))["timings"]
    assert decided["prompt_n"] < 25, decided  # deciding reads the new question only
    second += _call("c2", "get_time", '{"timezone": "Asia/Tokyo"}', "Friday 09:00 JST")
    answer = read(second, text=True)
    assert answer["prompt_n"] < 60 and answer["cache_n"] > 60, answer


async def test_a_first_request_saves_its_prefix_and_the_next_process_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question asked before ``prepare()`` ran (typed at once) saves the prefix too; a new
    runtime (its own ``n_ctx``: as in a new process) restores it before its first request."""
    monkeypatch.setenv("LKX_PROMPT_CACHE", str(tmp_path))
    system = f"You are agent {uuid.uuid4().hex}. Answer briefly."
    question: list[Any] = [
        {"role": "system", "content": system},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    first = LlamaLLM(LlamaLLMOptions(n_ctx=3072))
    await chat(first, question, tools=weather_and_time())
    assert len(list(tmp_path.glob("*.slot"))) == 1
    second = LlamaLLM(LlamaLLMOptions(n_ctx=2560))
    deltas = await chat(second, question, tools=weather_and_time())
    slots = second._ensure().slots
    assert slots is not None and slots.restored == 1  # a first question decides and calls in one
    assert any(d.tool_call and d.tool_call.name == "get_weather" for d in deltas)


async def test_llama_tool_choice_must_name_an_offered_tool() -> None:
    llm = LlamaLLM(LlamaLLMOptions(tool_choice="lookup_order"))
    with pytest.raises(ExternalServiceError, match="not one of the offered tools"):
        await chat(llm, [{"role": "user", "content": "Hi"}], tools=weather_and_time())


async def test_a_file_that_is_no_gguf_is_a_resource_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    llm = LlamaLLM(LlamaLLMOptions(model_path=str(broken)))
    with pytest.raises(ResourceError, match="could not load"):
        await llm.load()


@pytest.mark.parametrize(
    "make",
    [
        lambda: SileroVAD(SileroVADOptions(model_path="/nonexistent/vad.onnx")),
        lambda: WhisperSTT(WhisperSTTOptions(model="/nonexistent/whisper")),
        lambda: PiperTTS(PiperTTSOptions(voice="/nonexistent/voice.onnx")),
        lambda: LlamaLLM(LlamaLLMOptions(model_path="/nonexistent/model.gguf")),
    ],
)
def test_missing_model_is_a_resource_error(make: Any) -> None:
    with pytest.raises(ResourceError, match="not found at /nonexistent"):
        make()


async def test_full_spoken_round_trip_offline() -> None:
    """Speech -> Silero -> whisper -> llama (tool forced) -> tool -> llama -> piper audio."""
    agent = create_agent(
        name="offline",
        instructions="You are a weather assistant. Use get_weather.",
        tools=["get_weather"],
        llm_config={"provider": "local", "tool_choice": "get_weather", "max_tokens": 48},
        stt_config={"provider": "local"},
        tts_config={"provider": "local"},
        vad_config={"provider": "local"},
        max_tool_rounds=1,
    )
    events: list[Any] = []
    session = AgentSession(
        agent=agent, event_callbacks={"*": events.append}, audio_output=PacedOutput(realtime=False)
    )
    await session.start()
    try:
        spoken = join(
            silence_chunk(0.3, 48_000),
            speech_chunk("What is the weather in Paris?", 48_000),
            silence_chunk(1.0, 48_000),
        )
        step = 960 * 2  # 20 ms at 48 kHz
        for start in range(0, len(spoken.data), step):
            await session.process_audio(spoken.data[start : start + step], sample_rate=48_000)
        await session.wait_idle(120)
    finally:
        await session.aclose()
    transcript = next(e.text for e in events if e.type == "user_transcript").lower()
    assert "weather" in transcript and "paris" in transcript
    call = next(e for e in events if e.type == "tool_call_started")
    assert call.name == "get_weather" and "paris" in json.loads(call.arguments)["city"].lower()
    finished = next(e for e in events if e.type == "tool_call_finished")
    assert finished.error is None and json.loads(finished.output)["city"].lower() == "paris"
    audio = [e.frame for e in events if e.type == "agent_audio"]
    assert sum(f.duration for f in audio) > 0.3
    metrics = session.metrics()
    assert metrics["audio_segments_processed"] == 1 and metrics["tool_calls_executed"] == 1


async def test_llama_free_to_choose_never_answers_with_nothing() -> None:
    llm = LlamaLLM(LlamaLLMOptions(max_tokens=32))
    messages = [
        {"role": "system", "content": "You are Nova."},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": "What time is it in Paris?"},
    ]
    deltas = await chat(llm, messages, tools=weather_and_time())
    text = "".join(d.text for d in deltas).strip()
    assert text or any(d.tool_call for d in deltas)


def shaped(pieces: list[str], max_sentences: int | None = None) -> tuple[str, str | None]:
    guard, out = ReplyGuard(max_sentences), []
    for piece in pieces:
        out.append(guard.push(piece))
        if guard.done:
            break
    out.append(guard.finish())
    return "".join(out).strip(), guard.stopped_by


def test_reply_guard_drops_a_repeated_sentence_and_stops() -> None:
    words = "I'm Nova. I'm 20 years old. I'm 20 years old. I'm 20".split(" ")
    text, why = shaped([w + " " for w in words])
    assert text == "I'm Nova. I'm 20 years old." and why == "repeat"


def test_reply_guard_streams_a_sentence_that_only_starts_like_an_earlier_one() -> None:
    text, why = shaped(["It is ", "sunny. ", "It is ", "warm ", "too."])
    assert text == "It is sunny. It is warm too." and why is None


def test_reply_guard_ends_after_max_sentences_and_at_markup() -> None:
    assert shaped(["One. ", "Two! ", "Three? ", "Four."], 2) == ("One. Two!", "sentences")
    assert shaped(["Sure: ", '{"name": ', '"x"}'])[0] == "Sure:"
    assert shaped(["Ok <|im_end|> user: hi"])[1] == "markup"


def test_routing_plans_follow_tool_choice() -> None:
    tools = weather_and_time()
    user = [{"role": "user", "content": "hi"}]
    assert routing.plan(user, [], None).mode == "reply"
    assert routing.plan(user, tools, "none").mode == "reply"
    assert routing.plan(user, tools, "get_time") == routing.Plan("call", (tools[1],), False)
    assert routing.plan(user, tools, "required") == routing.Plan("route", tuple(tools), False)
    assert routing.plan(user, tools, "auto") == routing.Plan("route", tuple(tools), True)
    answered = [*user, {"role": "assistant", "tool_calls": []}, {"role": "tool", "content": "{}"}]
    assert routing.plan(answered, tools, "auto").mode == "reply"
    assert routing.plan(answered, tools, "required").mode == "route"


def test_routing_renders_calls_and_results_as_text_any_template_takes() -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"timezone": "Tokyo"}'},
    }
    messages = routing.prompt_messages(
        [NOVA, {"role": "user", "content": "Time in Tokyo?"},
         {"role": "assistant", "content": None, "tool_calls": [call]},
         {"role": "tool", "tool_call_id": "c1", "content": "04:12"}],
        weather_and_time(),
    )  # fmt: skip
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "<tools>" in messages[0]["content"] and '"default"' not in messages[0]["content"]
    assert (
        messages[2]["content"]
        == '<tool_call>\n{"name": "get_time", "arguments": {"timezone": "Tokyo"}}\n</tool_call>'
    )
    assert "04:12" in messages[3]["content"]
    assert routing.parse_call(messages[2]["content"]) == ("get_time", '{"timezone": "Tokyo"}')
    greeted = [
        NOVA,
        {"role": "assistant", "content": "Hi, I'm Nova."},
        {"role": "user", "content": "Hi"},
    ]
    assert [m["role"] for m in routing.prompt_messages(greeted, [])] == ["system", "user"]
