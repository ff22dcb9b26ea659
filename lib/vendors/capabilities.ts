/**
 * Create-time enforcement of an adapter's capability matrix: what a vendor cannot carry is
 * refused with 422 naming the field and the vendor, never discovered at send time.
 */
import type { FieldError } from '../core/errors';
import type { VendorAdapter } from './adapter';
import type { CreateTaskInput } from '../core/task';

export function capabilityErrors(adapter: VendorAdapter<unknown>, input: CreateTaskInput): FieldError[] {
  const caps = adapter.capabilities;
  const v = adapter.id;
  const errors: FieldError[] = [];
  if (!caps.audienceKinds.includes(input.audience.kind)) {
    errors.push({ path: 'audience.kind', message: `${v} cannot send to ${input.audience.kind}` });
  }
  if (input.audience.tags && !caps.tagFilters) {
    errors.push({ path: 'audience.tags', message: `${v} cannot filter the audience by tags` });
  }
  const contents = input.steps
    ? input.steps.map((s, i) => ({ content: s.content, path: `steps.${i}.content` }))
    : input.content
      ? [{ content: input.content, path: 'content' }]
      : [];
  for (const { content, path } of contents) {
    content.attachments?.forEach((a, i) => {
      if (!caps.attachmentTypes.includes(a.type)) {
        errors.push({
          path: `${path}.attachments.${i}.type`,
          message: `${v} cannot carry ${a.type} attachments (it takes ${caps.attachmentTypes.join(', ')})`,
        });
      }
    });
  }
  return errors;
}
