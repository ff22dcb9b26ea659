/**
 * Flow control (SPEC §1, issue "Campaigns at 10:00 sharp"): 1,000 group sends of one tenant due
 * the same second against a Weiban sandbox that enforces Weiban's published limits.
 */
import { describe, expect, it } from 'vitest';
import { runCampaign, type CampaignFigures } from './helpers/campaign';

describe('a campaign at 10:00 sharp', () => {
  it('1,000 tasks due the same second: each reaches Weiban once, within its limits, near the ideal pace; another tenant is not held back', async () => {
    const f: CampaignFigures = await runCampaign(1000);
    expect(f.createdPerTask.size).toBe(1000);
    expect([...f.createdPerTask.values()].every((count) => count === 1)).toBe(true);
    expect(f.finalStates).toEqual({ SUBMITTED: 1000 });
    expect(f.maxInFlight).toBeLessThanOrEqual(5);
    expect(f.maxPerMinute).toBeLessThanOrEqual(300);
    expect(f.throttled).toBeLessThanOrEqual(20); // ≤ 2% of sends
    expect(f.drainSeconds).toBeLessThanOrEqual(f.idealSeconds + 15);
    expect(f.otherTenantMs).toBeLessThanOrEqual(5_000);
  }, 480_000);
});
