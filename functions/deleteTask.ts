import { app, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { cancelTask } from '../lib/tasks/taskService';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => json(200, await cancelTask(deps, req.tenant, req.params.taskId)),
  );

export const handler = handlerFor(app);
