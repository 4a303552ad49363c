export { SmartProxy, type SmartProxyEvents } from './smart-proxy.js';
export type { IPortManagerView, ICertificateManagerView, IRouteManagerView } from './public-views.js';
export type { ISmartProxyOptions, IAcmeOptions, ITimeoutOptions, ILimitOptions, IHttp2Options, ILiveOptions, LogLevel, LimitName, IProxyProtocolOptions } from './options.js';
export { limitNames } from './options.js';
export type { IMetrics, ITrafficCounters, IPortMetrics, ICertificateMetrics, IWorkerMetrics, IUpstreamMetrics } from './metrics/metrics.js';
export type { ICertificateStatus, CertProvisionFunction, CertificateSource, CertificateEvents } from './certificates/types.js';
export type { INameLock, ILease } from './certificates/name-lock.js';
export { MemoryNameLock } from './certificates/name-lock.js';
export type { ICertificateStore, IStoredCertificate } from './certificates/store.js';
export { FileCertificateStore, type FileCertificateStoreOptions } from './certificates/file-store.js';
export { FileNameLock, type FileNameLockOptions } from './certificates/file-name-lock.js';
export { MemoryCertificateStore } from './certificates/store.js';
export type { IChallengeStore } from './certificates/challenge-store.js';
export { MemoryChallengeStore } from './certificates/challenge-store.js';
export type { ISharedStore, ISharedChallengeStore, IAlpnChallenge, ITicketKeySource } from './certificates/shared-store.js';
export type {
  IRouteConfig,
  IRouteMatch,
  IRouteAction,
  IRouteTarget,
  IRouteTargetEndpoint,
  ILoadBalancing,
  IHealthCheck,
  IRouteHeaders,
  ProxyProtocolVersion,
  IRouteTls,
  ITlsPolicy,
  IUpstreamTls,
  TlsMinVersion,
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
export type { IRouteGraph, IRouteGraphPort, IRouteGraphRoute, IRouteWarning, RouteWarningKind, PortMode, RouteGraphLayer } from './routing/route-graph-types.js';
export {
  SmartProxyError,
  PortInUseError,
  PortBindError,
  RouteValidationError,
  InvalidOptionError,
  ProxyStateError,
  CertificateError,
  ConfigFileError,
  CorruptStoreEntryError,
  AcmeTimeoutError,
  LeaseLostError,
  WorkerError,
  errorCodes,
  type ErrorCode,
  type RouteProblem,
  type OptionProblem,
} from './errors.js';
export { createCertificateAuthority, createSelfSignedCertificate, type PemKeyPair, type SelfSignedOptions } from './certificates/self-signed.js';
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
