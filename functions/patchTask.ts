import { app, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { patchTask } from '../lib/tasks/taskService';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => json(200, await patchTask(deps, req.tenant, req.params.taskId, req.body)),
    { body: true },
  );

export const handler = handlerFor(app);
