// The endpoints of `lkx dev` (loopback only): served agents, a session token that brings the
// chosen agent, and the status that says why no agent came.

async function call(path, options) {
  let answer;
  try {
    answer = await fetch(path, options);
  } catch {
    throw new Error('lkx dev is not answering: is it still running?');
  }
  let body = {};
  try {
    body = await answer.json();
  } catch {
    // an answer without JSON: fall through to the status
  }
  if (!answer.ok) {
    throw new Error(body.error || `lkx dev answered ${answer.status}`);
  }
  return body;
}

export function getAgents() {
  return call('/api/agents');
}

export function createSession(agent) {
  return call('/api/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ agent }),
  });
}

export function getStatus(room, agent) {
  const query = new URLSearchParams({ room, agent });
  return call(`/api/status?${query}`);
}
