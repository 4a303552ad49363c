export { SmartProxy, type SmartProxyEvents } from './smart-proxy.js';
export type { IPortManagerView, ICertificateManagerView, IRouteManagerView } from './public-views.js';
export type { ISmartProxyOptions, IAcmeOptions, ITimeoutOptions, ILimitOptions, ILiveOptions, LogLevel, LimitName, IProxyProtocolOptions } from './options.js';
export { limitNames } from './options.js';
export type { IMetrics, ITrafficCounters, IPortMetrics, ICertificateMetrics, IUpstreamMetrics } from './metrics/metrics.js';
export type { ICertificateStatus, CertProvisionFunction, CertificateSource, CertificateEvents } from './certificates/types.js';
export type { ICertificateStore, IStoredCertificate } from './certificates/store.js';
export { FileCertificateStore } from './certificates/file-store.js';
export { MemoryCertificateStore } from './certificates/store.js';
export type { IChallengeStore } from './certificates/challenge-store.js';
export { MemoryChallengeStore } from './certificates/challenge-store.js';
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
