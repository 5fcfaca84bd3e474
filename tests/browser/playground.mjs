// Drive Debian's chromium through the lkx playground, for tests/playground. Never downloads a
// browser: puppeteer-core runs the executable it is given.
//
//   node playground.mjs CONFIG.json   -> one JSON line on stdout: what the page showed
//
// CONFIG: {url, chromium, profile, wav, agent, scenario: "conversation" | "failure" | "dropped",
//          expectUser, expectAgent, message, expectReply, screenshot, timeoutMs,
//          then: {agent, expectGreeting, message, expectReply}, readyFile}
import { readFile, writeFile } from 'node:fs/promises';

import puppeteer from 'puppeteer-core';

const config = JSON.parse(await readFile(process.argv[2], 'utf8'));
const timeout = config.timeoutMs ?? 30000;
const flags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // %noloop: the recording plays once, so one question makes one turn
  `--use-file-for-fake-audio-capture=${config.wav}%noloop`,
  '--autoplay-policy=no-user-gesture-required',
  `--user-data-dir=${config.profile}`,
  '--window-size=1000,720',
];

const browser = await puppeteer.launch({
  executablePath: config.chromium,
  headless: true,
  ignoreDefaultArgs: true,
  args: flags,
  defaultViewport: { width: 1000, height: 720 },
  timeout,
});
const problems = [];
const result = { scenario: config.scenario };
try {
  const page = await browser.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(config.url, { waitUntil: 'load', timeout });
  await page.waitForFunction(
    (name) => [...document.querySelectorAll('#agent option')].some((o) => o.value === name),
    { timeout },
    config.agent,
  );
  await page.select('#agent', config.agent);
  await page.click('#join');
  if (config.scenario === 'failure') {
    await page.waitForSelector('#notice:not([hidden])', { timeout });
    await page.waitForFunction(() => ['failed', 'idle'].includes(window.lkxPlayground.phase), { timeout });
    Object.assign(result, await snapshot(page));
  } else if (config.scenario === 'dropped') {
    // in a conversation when the test stops the server (it waits for readyFile)
    await page.waitForFunction(() => window.lkxPlayground.phase === 'ready', { timeout });
    await writeFile(config.readyFile, 'ready');
    const dropped = Date.now();
    await page.waitForSelector('#notice:not([hidden])', { timeout });
    result.noticeAfterMs = Date.now() - dropped;
    Object.assign(result, await snapshot(page));
  } else {
    await conversation(page);
  }
} catch (error) {
  result.error = String(error?.stack ?? error);
  try {
    Object.assign(result, await snapshot((await browser.pages()).at(-1)));
  } catch {
    // the page is gone too
  }
} finally {
  result.problems = problems;
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);

async function conversation(page) {
  const step = async (name, fn) => {
    const started = Date.now();
    await fn();
    (result.steps ??= {})[name] = Date.now() - started;
  };
  await step('ready', () => page.waitForFunction(() => window.lkxPlayground.phase === 'ready', { timeout }));
  await step('userSpeech', () => line(page, 'user', 'speech', config.expectUser));
  await step('agentReply', () => line(page, 'agent', 'speech', config.expectAgent));
  await step('agentAudio', () => page.waitForFunction(() => window.lkxPlayground.agentPeak > 0.01, { timeout }));
  await page.type('#message', config.message);
  await page.keyboard.press('Enter');
  await step('chatReply', () => line(page, 'agent', null, config.expectReply));
  await page.waitForFunction(() => window.lkxPlayground.agentState === 'listening', { timeout });
  if (config.screenshot) await page.screenshot({ path: config.screenshot });
  Object.assign(result, await snapshot(page));
  await page.click('#mute');
  await page.waitForSelector('#mute[aria-pressed="true"]', { timeout });
  result.muted = await page.evaluate(() => !window.lkxPlayground.microphoneOn());
  await page.click('#leave');
  await page.waitForFunction(() => window.lkxPlayground.phase === 'left', { timeout });
  result.left = true;
  if (config.then) await newRoom(page, config.then);
}

// After leaving: another agent, a new room, a typed exchange.
async function newRoom(page, then) {
  const before = await page.$eval('#room-info', (node) => node.textContent);
  await page.select('#agent', then.agent);
  await page.click('#new-room');
  await page.waitForFunction(() => window.lkxPlayground.phase === 'ready', { timeout });
  result.newRoom = (await page.$eval('#room-info', (node) => node.textContent)) !== before;
  if (then.expectGreeting) await line(page, 'agent', null, then.expectGreeting); // read it first
  await page.type('#message', then.message);
  await page.keyboard.press('Enter');
  await line(page, 'agent', null, then.expectReply);
  await new Promise((resolve) => setTimeout(resolve, 800)); // a repeat would show by now
  result.then = await snapshot(page);
  await page.click('#leave');
}

// a final line of `speaker` (and `kind`) holding `text`, or one of `text` if it is a list
function line(page, speaker, kind, text) {
  return page.waitForFunction(
    (who, how, wanted) =>
      [...document.querySelectorAll('#transcript .line')].some(
        (node) =>
          node.dataset.speaker === who &&
          (!how || node.dataset.kind === how) &&
          node.dataset.final === 'true' &&
          [wanted].flat().some((w) => node.textContent.toLowerCase().includes(w.toLowerCase())),
      ),
    { timeout },
    speaker,
    kind,
    text,
  );
}

async function snapshot(page) {
  return page.evaluate(() => {
    const view = window.lkxPlayground;
    const notice = document.querySelector('#notice');
    return {
      phase: view.phase,
      timings: view.timings,
      agentPeak: view.agentPeak,
      agentStates: view.agentStates,
      timeline: view.timeline,
      streams: view.streams,
      notice: notice.hidden ? '' : notice.textContent,
      lines: [...document.querySelectorAll('#transcript .line')].map((node) => ({
        speaker: node.dataset.speaker,
        kind: node.dataset.kind,
        final: node.dataset.final === 'true',
        text: node.querySelector('.text').textContent,
      })),
    };
  });
}
