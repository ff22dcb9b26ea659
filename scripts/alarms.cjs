/**
 * serverless.yml's CloudWatch alarms (resources: - ${file(./scripts/alarms.cjs)}), made by
 * scripts/lib/alarms.ts from the metric catalog and the vendor registry: a vendor added to the
 * registry gets its alarm, and an alarm cannot name a metric the code does not emit.
 */
'use strict';
const loadTs = require('./lib/load-ts.cjs');

let resolved;

module.exports = () => {
  resolved ??= loadTs('scripts/lib/alarms.ts').alarmResources();
  return resolved;
};
