/**
 * Flow control's limits for one (tenant, vendor) pair (SPEC §1): each adapter publishes its
 * vendor's, a tenant may override them, lib/infra/flowLimiter.ts enforces them.
 */
export interface RateLimits {
  /** Requests in flight at once (every vendor call). */
  inFlight: number;
  /** Vendor writes (creates, cancels, reminders) in any 60 s. */
  perMinute: number;
  /** Vendor writes in any hour. */
  perHour: number;
}
