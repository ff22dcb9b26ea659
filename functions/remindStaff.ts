import { app, appDeps, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { remindStaff } from '../lib/tasks/remindStaff';

export const handlerFor = (root: () => App) =>
  apiHandler(appDeps(root), async (req, deps) => json(200, await remindStaff(deps, req.tenant, req.params.taskId)));

export const handler = handlerFor(app);
