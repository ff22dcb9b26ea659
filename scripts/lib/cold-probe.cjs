'use strict';
/**
 * One cold request, in a fresh Node process (any version; plain CommonJS, nothing to compile):
 * load one built bundle, hand its handler one event as Lambda's runtime would, and report on
 * file descriptor 3 when it answered. stdout and stderr stay the function's own (its log and
 * EMF lines, written as in Lambda). The bench (scripts/lib/coldStart.ts) times the process from
 * spawn to that report and compares it with an empty handler run the same way.
 *
 * usage: node cold-probe.cjs <bundle.js> <event.json>
 */
const { readFileSync, writeSync } = require('node:fs');

const [bundle, eventFile] = process.argv.slice(2);
const report = (r) => {
  writeSync(3, `${JSON.stringify(r)}\n`);
  // Keep-alive sockets and timers would hold the process: the request is over.
  process.exit(0);
};

async function main() {
  const loadStart = performance.now();
  // Required as Lambda's runtime requires a CommonJS handler.
  const { handler } = require(bundle);
  const loaded = performance.now();
  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME || 'probe';
  const deadline = Date.now() + 60_000;
  const context = {
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:ap-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: `cold-${process.pid}`,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'probe',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };

  Promise.resolve()
    .then(() => handler(event, context))
    .then(
      (out) => {
        const answered = performance.now();
        report({
          ok: true,
          // Since the process started (performance's time origin), and the module load inside it.
          answeredMs: answered,
          loadMs: loaded - loadStart,
          requestMs: answered - loaded,
          statusCode: out && out.statusCode,
          outcome: out && (out.outcome ?? (out.batchItemFailures ? `batchItemFailures ${out.batchItemFailures.length}` : undefined)),
        });
      },
      (err) => report({ ok: false, error: String((err && err.message) || err) }),
    );
}

main().catch((err) => report({ ok: false, error: `load: ${String((err && err.message) || err)}` }));
