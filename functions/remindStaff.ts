import { app, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { remindStaff } from '../lib/tasks/remindStaff';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => json(200, await remindStaff(deps, req.tenant, req.params.taskId)),
  );

export const handler = handlerFor(app);
