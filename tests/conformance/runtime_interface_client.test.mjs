// A function written against the official Node.js runtime interface client
// (npm aws-lambda-ric, the version pinned in package-lock.json, whose native
// part `make deps` builds) runs in stampede-lambda unchanged: its bootstrap
// is the RIC's own entry point, `node <ric>/bin/index.mjs app.handler`, as
// in a container image built on the RIC. The test drives it through the
// Invoke API and a Function URL and checks what the RIC made of the
// emulator's Runtime API: the exact answer, the context's request id and
// function ARN, and a thrown error reported the RIC's way.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, after } from 'node:test';
import { ARN, installed, startLambda, tempDir } from './lib.mjs';

const ric = installed('aws-lambda-ric');

// The function: plain CommonJS against the RIC's handler contract.
const APP = `'use strict';
class ConformanceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConformanceError';
  }
}
exports.handler = async (event, context) => {
  if (event.requestContext && event.requestContext.http) {
    return {
      statusCode: 201,
      headers: { 'content-type': 'text/plain', 'x-conformance': 'ric' },
      body: [event.requestContext.http.method, event.rawPath, context.awsRequestId,
        context.invokedFunctionArn].join(' '),
    };
  }
  if (event.fail) throw new ConformanceError('asked to fail: ' + event.fail);
  return {
    echo: event,
    requestId: context.awsRequestId,
    functionArn: context.invokedFunctionArn,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
  };
};
`;

const tmp = tempDir();
const fn = path.join(tmp.dir, 'ric');
mkdirSync(fn);
writeFileSync(path.join(fn, 'app.js'), APP);
// The RIC takes the app root from its working directory.
writeFileSync(path.join(fn, 'bootstrap'), `#!/bin/sh
cd "$(dirname "$0")" || exit 1
exec '${process.execPath}' '${path.join(ric, 'bin', 'index.mjs')}' app.handler
`);
chmodSync(path.join(fn, 'bootstrap'), 0o755);

const lambda = await startLambda(['--function', `ric=${path.join(fn, 'bootstrap')}`,
  '--memory', '256', '--timeout', '10']);

after(async () => {
  assert.equal(await lambda.stop(), 0, 'exit status of stampede-lambda');
  tmp.remove();
});

async function request(method, target, body) {
  const answer = await fetch(`${lambda.url}${target}`, {
    method, body, headers: body ? { 'content-type': 'application/json' } : {},
  });
  return { status: answer.status, headers: answer.headers, body: await answer.text() };
}

test('Invoke API: the handler\'s answer, request id and function ARN', async () => {
  const answer = await request('POST', '/2015-03-31/functions/ric/invocations', '{"n":1,"s":"x"}');
  assert.equal(answer.status, 200, answer.body);
  const requestId = answer.headers.get('x-amzn-requestid');
  assert.match(requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(answer.headers.get('x-amz-executed-version'), '$LATEST');
  assert.equal(answer.headers.get('x-amz-function-error'), null);
  assert.equal(answer.body, JSON.stringify({
    echo: { n: 1, s: 'x' },
    requestId,
    functionArn: `${ARN}ric`,
    functionName: 'ric',
    functionVersion: '$LATEST',
    memoryLimitInMB: '256',
  }));
});

test('Function URL: the handler\'s HTTP answer', async () => {
  const answer = await request('GET', '/url/ric/hello?x=1');
  assert.equal(answer.status, 201, answer.body);
  assert.equal(answer.headers.get('content-type'), 'text/plain');
  assert.equal(answer.headers.get('x-conformance'), 'ric');
  const requestId = answer.headers.get('x-amzn-requestid');
  assert.equal(answer.body, `GET /hello ${requestId} ${ARN}ric`);
});

test('a thrown error is X-Amz-Function-Error: Unhandled with the RIC\'s errorType and errorMessage', async () => {
  const answer = await request('POST', '/2015-03-31/functions/ric/invocations', '{"fail":"on purpose"}');
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.headers.get('x-amz-function-error'), 'Unhandled');
  const error = JSON.parse(answer.body);
  assert.deepEqual(Object.keys(error), ['errorType', 'errorMessage', 'trace']);
  assert.equal(error.errorType, 'ConformanceError');
  assert.equal(error.errorMessage, 'asked to fail: on purpose');
  assert.ok(Array.isArray(error.trace) && error.trace.some((line) => line.includes('app.js')),
    JSON.stringify(error.trace));

  // The environment survives a handled error: the next invocation is warm.
  const again = await request('POST', '/2015-03-31/functions/ric/invocations', '{"n":2}');
  assert.equal(again.status, 200, again.body);
  assert.equal(JSON.parse(again.body).echo.n, 2);
});

test('the invoked function ARN names the qualifier the caller used', async () => {
  const published = await request('POST', '/2015-03-31/functions/ric/versions', '{}');
  assert.equal(published.status, 201, published.body);
  assert.equal(JSON.parse(published.body).Version, '1');
  const alias = await request('POST', '/2015-03-31/functions/ric/aliases',
    '{"Name":"live","FunctionVersion":"1"}');
  assert.equal(alias.status, 201, alias.body);

  const cases = [
    ['/2015-03-31/functions/ric/invocations?Qualifier=live', `${ARN}ric:live`, '1'],
    ['/2015-03-31/functions/ric:live/invocations', `${ARN}ric:live`, '1'],
    ['/2015-03-31/functions/ric/invocations?Qualifier=1', `${ARN}ric:1`, '1'],
    ['/2015-03-31/functions/ric/invocations', `${ARN}ric`, '$LATEST'],
  ];
  for (const [target, arn, version] of cases) {
    const answer = await request('POST', target, '{"n":3}');
    assert.equal(answer.status, 200, `${target}: ${answer.body}`);
    const body = JSON.parse(answer.body);
    assert.equal(body.functionArn, arn, target);
    assert.equal(body.functionVersion, version, target);
  }
  const viaUrl = await request('GET', '/url/ric:live/q');
  assert.equal(viaUrl.status, 201, viaUrl.body);
  assert.equal(viaUrl.body, `GET /q ${viaUrl.headers.get('x-amzn-requestid')} ${ARN}ric:live`);
});
