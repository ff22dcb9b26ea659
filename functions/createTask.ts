import { taskDeps } from '../lib/app';
import { badRequest } from '../lib/core/errors';
import { apiHandler, json } from '../lib/api/handler';
import { createTask } from '../lib/tasks/taskService';

export const handler = apiHandler(async (req) => {
  const key = req.headers['idempotency-key'];
  if (key !== undefined && (key.length < 1 || key.length > 255)) {
    throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'Idempotency-Key', message: 'must be 1–255 characters' }]);
  }
  const { task, created } = await createTask(taskDeps(req.context), req.tenant, req.body, key);
  return json(created ? 201 : 200, task, { location: `/v1/tasks/${task.id}` });
}, { body: true });
