import { app, type App } from '../lib/app';
import { badRequest } from '../lib/core/errors';
import { apiHandler, json } from '../lib/api/handler';
import { createTask } from '../lib/tasks/taskService';

/** This function over an App (its own composition root: `app`, or a test's). */
export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => {
      const key = req.headers['idempotency-key'];
      if (key !== undefined && (key.length < 1 || key.length > 255)) {
        throw badRequest('Idempotency-Key must be 1–255 characters', [{ path: 'Idempotency-Key', message: 'must be 1–255 characters' }]);
      }
      const { task, created } = await createTask(deps, req.tenant, req.body, key);
      return json(created ? 201 : 200, task, { location: `/v1/tasks/${task.id}` });
    },
    { body: true },
  );

export const handler = handlerFor(app);
