/** Per-recipient outcomes (SPEC §1 GET /v1/tasks/{id}/recipients), where a vendor reports them. */

/** `unsent`: its staff member has not confirmed the send (yet). */
export type RecipientStatus = 'unsent' | 'sent' | 'notFriend' | 'overQuota' | 'failed';
export const RECIPIENT_STATUSES: readonly RecipientStatus[] = ['unsent', 'sent', 'notFriend', 'overQuota', 'failed'];

export interface RecipientOutcome {
  /** The staff member who sends to it, where the vendor says. */
  sender?: string;
  /** The customer's or the group's id. */
  recipient: string;
  kind: 'customer' | 'group';
  status: RecipientStatus;
  /** When it was sent (ISO 8601), where the vendor says. */
  sentAt?: string;
}

/** One row of GET /recipients: an outcome and the step it belongs to. */
export interface RecipientRow extends RecipientOutcome {
  step: number;
}
