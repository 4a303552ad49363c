export { SmartProxy, type SmartProxyEvents } from './smart-proxy.js';
export type { ISmartProxyOptions, IAcmeOptions, ITimeoutOptions, ILimitOptions } from './options.js';
export type { IMetrics, ITrafficCounters, IPortMetrics, ICertificateMetrics } from './metrics/metrics.js';
export type { ICertificateStatus, CertProvisionFunction, CertificateSource, CertificateEvents } from './certificates/certificate-status.js';
export type { INameLock, ILease } from './certificates/name-lock.js';
export { MemoryNameLock } from './certificates/name-lock.js';
export type { ICertificateStore, IStoredCertificate } from './certificates/store.js';
export { FileCertificateStore, type FileCertificateStoreOptions } from './certificates/file-store.js';
export { FileNameLock, type FileNameLockOptions } from './certificates/file-name-lock.js';
export { MemoryCertificateStore } from './certificates/store.js';
export type { IChallengeStore } from './certificates/challenge-store.js';
export { MemoryChallengeStore } from './certificates/challenge-store.js';
export type {
  IRouteConfig,
  IRouteMatch,
  IRouteAction,
  IRouteTarget,
  IRouteTls,
  IRouteRedirect,
  IRouteStatic,
  IRouteSecurity,
  IRouteTimeouts,
  IStaticCertificate,
  IPortRange,
  PortSpec,
  TlsMode,
  RouteActionType,
  RedirectStatus,
  SocketHandler,
  ISocketHandlerContext,
} from './routing/types.js';
export {
  SmartProxyError,
  PortInUseError,
  PortBindError,
  RouteValidationError,
  InvalidOptionError,
  ProxyStateError,
  CertificateError,
  AcmeTimeoutError,
  errorCodes,
  type RouteProblem,
} from './errors.js';
export { PortManager, type PortEvents } from './ports/port-manager.js';
export { RouteManager } from './routing/route-manager.js';
export { CertificateManager } from './certificates/certificate-manager.js';
export { createCertificateAuthority, createSelfSignedCertificate, type PemKeyPair } from './certificates/self-signed.js';
export {
  createHttpRoute,
  createHttpsTerminateRoute,
  createHttpsPassthroughRoute,
  createHttpToHttpsRedirect,
  createCompleteHttpsServer,
  createLoadBalancerRoute,
  type IRouteHelperOptions,
  type IHttpRouteOptions,
  type IHttpsTerminateRouteOptions,
  type IHttpsPassthroughRouteOptions,
  type IHttpToHttpsRedirectOptions,
  type ICompleteHttpsServerOptions,
  type ILoadBalancerRouteOptions,
} from './routing/route-helpers.js';
