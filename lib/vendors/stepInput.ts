import type { Step, Task } from '../core/task';
import type { StepRequestInput } from './adapter';

/** What an adapter is given for one step of a task: the canonical fields it maps, nothing stored beside them. */
export function stepInput(task: Pick<Task, 'id' | 'name' | 'audience' | 'vendorOptions'>, step: Pick<Step, 'index' | 'sendAt' | 'content'>): StepRequestInput {
  return {
    taskId: task.id,
    name: task.name,
    audience: task.audience,
    content: step.content,
    sendAt: step.sendAt,
    stepIndex: step.index,
    vendorOptions: task.vendorOptions ?? {},
  };
}
