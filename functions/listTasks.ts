import { app, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { listTasks } from '../lib/tasks/taskService';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => json(200, await listTasks(deps, req.tenant, req.query)),
  );

export const handler = handlerFor(app);
