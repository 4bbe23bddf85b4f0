// The AWS SDK for JavaScript v3 (@aws-sdk/client-lambda, the version pinned
// in package-lock.json) against stampede-lambda: management calls, both
// invocation types and a throttle, each parsed by the SDK exactly as it
// parses AWS's answers. Retries are off (maxAttempts 1) so a throttle
// reaches the test as the SDK's TooManyRequestsException.
//
// The function is the demo bootstrap holding each invocation for HOLD_MS,
// so two invocations overlap and reserved concurrency 1 throttles one. It
// answers with a Lambda proxy response, which Invoke passes through whole.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test, after } from 'node:test';
import { ARN, BIN, HERE, installed, startLambda, waitUntil } from './lib.mjs';

installed('@aws-sdk/client-lambda');
const require = createRequire(path.join(HERE, 'package.json'));
const sdk = require('@aws-sdk/client-lambda');

const HOLD_MS = 1000;
const lambda = await startLambda(['--function', `demo=${path.join(BIN, 'bootstrap')}`,
  '--env', `STAMPEDE_HOLD_MS=${HOLD_MS}`]);
const client = new sdk.LambdaClient({
  endpoint: lambda.url,
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});

after(async () => {
  client.destroy();
  // A clean exit on SIGTERM (a sanitizer build exits non-zero on a finding).
  assert.equal(await lambda.stop(), 0, 'exit status of stampede-lambda');
});

// The facts in the demo function's answer: exactly the proxy envelope
// (lambda/function/fn_handler.h) with the facts object as its body string.
const FACTS = ['request_id', 'environment_id', 'cold_start', 'cold_start_time',
  'initialization_type', 'invocation_count', 'started_at_ns', 'finished_at_ns'];
function payload(answer) {
  const proxy = JSON.parse(Buffer.from(answer.Payload).toString('utf8'));
  assert.deepEqual(Object.keys(proxy), ['statusCode', 'headers', 'body']);
  assert.equal(proxy.statusCode, 200);
  assert.deepEqual(proxy.headers, { 'Content-Type': 'application/json' });
  assert.equal(typeof proxy.body, 'string');
  const facts = JSON.parse(proxy.body);
  assert.deepEqual(Object.keys(facts), FACTS);
  return facts;
}

test('GetFunction', async () => {
  const answer = await client.send(new sdk.GetFunctionCommand({ FunctionName: 'demo' }));
  assert.equal(answer.$metadata.httpStatusCode, 200);
  const config = answer.Configuration;
  assert.equal(config.FunctionName, 'demo');
  assert.equal(config.FunctionArn, `${ARN}demo`);
  assert.equal(config.Runtime, 'provided.al2023');
  assert.equal(config.Handler, 'bootstrap');
  assert.equal(config.Version, '$LATEST');
  assert.equal(config.Timeout, 3);
  assert.equal(config.MemorySize, 128);
  assert.equal(config.State, 'Active');
  assert.equal(config.PackageType, 'Zip');
  assert.deepEqual(config.Architectures, ['x86_64']);
  assert.deepEqual(config.Environment, { Variables: { STAMPEDE_HOLD_MS: String(HOLD_MS) } });
  assert.equal(answer.Concurrency, undefined);
});

test('PutFunctionConcurrency and GetFunctionConcurrency', async () => {
  const put = await client.send(new sdk.PutFunctionConcurrencyCommand({
    FunctionName: 'demo', ReservedConcurrentExecutions: 1 }));
  assert.equal(put.ReservedConcurrentExecutions, 1);
  const got = await client.send(new sdk.GetFunctionConcurrencyCommand({ FunctionName: 'demo' }));
  assert.equal(got.ReservedConcurrentExecutions, 1);
});

test('PublishVersion, CreateAlias, PutProvisionedConcurrencyConfig', async () => {
  const version = await client.send(new sdk.PublishVersionCommand({
    FunctionName: 'demo', Description: 'one' }));
  assert.equal(version.Version, '1');
  assert.equal(version.FunctionArn, `${ARN}demo:1`);
  assert.equal(version.Description, 'one');

  const alias = await client.send(new sdk.CreateAliasCommand({
    FunctionName: 'demo', Name: 'live', FunctionVersion: '1', Description: 'production' }));
  assert.equal(alias.AliasArn, `${ARN}demo:live`);
  assert.equal(alias.Name, 'live');
  assert.equal(alias.FunctionVersion, '1');
  assert.equal(alias.Description, 'production');

  const put = await client.send(new sdk.PutProvisionedConcurrencyConfigCommand({
    FunctionName: 'demo', Qualifier: 'live', ProvisionedConcurrentExecutions: 1 }));
  assert.equal(put.RequestedProvisionedConcurrentExecutions, 1);
  assert.ok(['IN_PROGRESS', 'READY'].includes(put.Status), put.Status);
  const ready = await waitUntil(async () => {
    const config = await client.send(new sdk.GetProvisionedConcurrencyConfigCommand({
      FunctionName: 'demo', Qualifier: 'live' }));
    return config.Status === 'READY' ? config : null;
  }, 30000, 'provisioned concurrency READY');
  assert.equal(ready.AllocatedProvisionedConcurrentExecutions, 1);
  assert.equal(ready.AvailableProvisionedConcurrentExecutions, 1);

  // The alias runs on the provisioned environment: warm, no cold start.
  const answer = await client.send(new sdk.InvokeCommand({
    FunctionName: 'demo', Qualifier: 'live', Payload: Buffer.from('{"n":1}') }));
  assert.equal(answer.StatusCode, 200);
  assert.equal(answer.ExecutedVersion, '1');
  assert.equal(answer.FunctionError, undefined);
  const body = payload(answer);
  assert.equal(body.request_id, answer.$metadata.requestId);
  assert.equal(body.initialization_type, 'provisioned-concurrency');
  assert.equal(body.cold_start, false);
  assert.equal(body.invocation_count, 1);

  await client.send(new sdk.DeleteProvisionedConcurrencyConfigCommand({
    FunctionName: 'demo', Qualifier: 'live' }));
  const listed = await client.send(new sdk.ListProvisionedConcurrencyConfigsCommand({
    FunctionName: 'demo' }));
  assert.deepEqual(listed.ProvisionedConcurrencyConfigs, []);
});

test('Invoke RequestResponse and Event', async () => {
  const answer = await client.send(new sdk.InvokeCommand({
    FunctionName: 'demo', InvocationType: 'RequestResponse', Payload: Buffer.from('{"a":1}') }));
  assert.equal(answer.StatusCode, 200);
  assert.equal(answer.ExecutedVersion, '$LATEST');
  assert.equal(answer.FunctionError, undefined);
  const body = payload(answer);
  assert.equal(body.request_id, answer.$metadata.requestId);
  assert.equal(body.initialization_type, 'on-demand');
  assert.equal(body.cold_start, true);
  assert.equal(body.invocation_count, 1);

  const queued = await client.send(new sdk.InvokeCommand({
    FunctionName: 'demo', InvocationType: 'Event', Payload: Buffer.from('{"b":2}') }));
  assert.equal(queued.StatusCode, 202);
  assert.equal(queued.FunctionError, undefined);
  assert.equal(Buffer.from(queued.Payload ?? []).length, 0);
  // Let the queued event finish before the throttle test takes the one slot.
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS + 500));
});

test('a second concurrent Invoke over reserved concurrency 1 is TooManyRequestsException', async () => {
  const first = client.send(new sdk.InvokeCommand({ FunctionName: 'demo', Payload: Buffer.from('{}') }));
  // The first holds the only slot for HOLD_MS; the second arrives meanwhile.
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS / 4));
  const error = await client.send(new sdk.InvokeCommand({ FunctionName: 'demo', Payload: Buffer.from('{}') }))
    .then(() => null, (thrown) => thrown);
  assert.ok(error, 'the second invocation was not throttled');
  assert.ok(error instanceof sdk.TooManyRequestsException, `${error.name}: ${error.message}`);
  assert.equal(error.name, 'TooManyRequestsException');
  assert.equal(error.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  assert.equal(error.Type, 'User');
  assert.equal(error.message, 'Rate Exceeded.');
  assert.equal(error.$metadata.httpStatusCode, 429);
  assert.equal(error.$metadata.attempts, 1);
  const answer = await first;
  assert.equal(answer.StatusCode, 200);
  // The one on-demand environment's third: after RequestResponse and Event.
  assert.equal(payload(answer).invocation_count, 3);
});
