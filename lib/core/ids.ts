import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * ULID (time-ordered, 48-bit ms time + 80 random bits): the task id doubles as the sort key, so
 * listing newest-first is a plain reverse Query with no index.
 */
export function ulid(now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const rand = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += CROCKFORD[(rand[i] as number) % 32];
  return time + tail;
}

export const newTaskId = () => `tsk_${ulid()}`;
export const TASK_ID = /^tsk_[0-9A-HJKMNP-TV-Z]{26}$/;
