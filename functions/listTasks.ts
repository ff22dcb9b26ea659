import { app, appDeps, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { listTasks } from '../lib/tasks/taskService';

export const handlerFor = (root: () => App) => apiHandler(appDeps(root), async (req, deps) => json(200, await listTasks(deps, req.tenant, req.query)));

export const handler = handlerFor(app);
