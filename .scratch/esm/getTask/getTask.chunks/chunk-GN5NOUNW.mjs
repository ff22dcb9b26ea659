import { createRequire as __qunfaRequire } from 'node:module'; const require = __qunfaRequire(import.meta.url);
function r(e,t,n="scheduled"){return t==="dispatch"&&n==="now"?e.DISPATCH_NOW_FUNCTION_NAME:{dispatch:e.DISPATCH_FUNCTION_NAME,poll:e.POLL_FUNCTION_NAME,callback:e.CALLBACK_FUNCTION_NAME}[t]}export{r as a};
