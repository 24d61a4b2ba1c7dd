// Original file: proto/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AccessRequest as _portcullis_admin_v1_AccessRequest, AccessRequest__Output as _portcullis_admin_v1_AccessRequest__Output } from '../../../portcullis/admin/v1/AccessRequest.js';
import type { ActivateBundleRequest as _portcullis_admin_v1_ActivateBundleRequest, ActivateBundleRequest__Output as _portcullis_admin_v1_ActivateBundleRequest__Output } from '../../../portcullis/admin/v1/ActivateBundleRequest.js';
import type { ActivateBundleResponse as _portcullis_admin_v1_ActivateBundleResponse, ActivateBundleResponse__Output as _portcullis_admin_v1_ActivateBundleResponse__Output } from '../../../portcullis/admin/v1/ActivateBundleResponse.js';
import type { Bundle as _portcullis_admin_v1_Bundle, Bundle__Output as _portcullis_admin_v1_Bundle__Output } from '../../../portcullis/admin/v1/Bundle.js';
import type { BundleSources as _portcullis_admin_v1_BundleSources, BundleSources__Output as _portcullis_admin_v1_BundleSources__Output } from '../../../portcullis/admin/v1/BundleSources.js';
import type { DecideRequestRequest as _portcullis_admin_v1_DecideRequestRequest, DecideRequestRequest__Output as _portcullis_admin_v1_DecideRequestRequest__Output } from '../../../portcullis/admin/v1/DecideRequestRequest.js';
import type { DecideRequestResponse as _portcullis_admin_v1_DecideRequestResponse, DecideRequestResponse__Output as _portcullis_admin_v1_DecideRequestResponse__Output } from '../../../portcullis/admin/v1/DecideRequestResponse.js';
import type { Event as _portcullis_admin_v1_Event, Event__Output as _portcullis_admin_v1_Event__Output } from '../../../portcullis/admin/v1/Event.js';
import type { FleetStatus as _portcullis_admin_v1_FleetStatus, FleetStatus__Output as _portcullis_admin_v1_FleetStatus__Output } from '../../../portcullis/admin/v1/FleetStatus.js';
import type { GetBundleRequest as _portcullis_admin_v1_GetBundleRequest, GetBundleRequest__Output as _portcullis_admin_v1_GetBundleRequest__Output } from '../../../portcullis/admin/v1/GetBundleRequest.js';
import type { GetBundleSourcesRequest as _portcullis_admin_v1_GetBundleSourcesRequest, GetBundleSourcesRequest__Output as _portcullis_admin_v1_GetBundleSourcesRequest__Output } from '../../../portcullis/admin/v1/GetBundleSourcesRequest.js';
import type { GetFleetStatusRequest as _portcullis_admin_v1_GetFleetStatusRequest, GetFleetStatusRequest__Output as _portcullis_admin_v1_GetFleetStatusRequest__Output } from '../../../portcullis/admin/v1/GetFleetStatusRequest.js';
import type { GrantRequest as _portcullis_admin_v1_GrantRequest, GrantRequest__Output as _portcullis_admin_v1_GrantRequest__Output } from '../../../portcullis/admin/v1/GrantRequest.js';
import type { GrantResponse as _portcullis_admin_v1_GrantResponse, GrantResponse__Output as _portcullis_admin_v1_GrantResponse__Output } from '../../../portcullis/admin/v1/GrantResponse.js';
import type { ListBundlesRequest as _portcullis_admin_v1_ListBundlesRequest, ListBundlesRequest__Output as _portcullis_admin_v1_ListBundlesRequest__Output } from '../../../portcullis/admin/v1/ListBundlesRequest.js';
import type { ListBundlesResponse as _portcullis_admin_v1_ListBundlesResponse, ListBundlesResponse__Output as _portcullis_admin_v1_ListBundlesResponse__Output } from '../../../portcullis/admin/v1/ListBundlesResponse.js';
import type { ListGrantsRequest as _portcullis_admin_v1_ListGrantsRequest, ListGrantsRequest__Output as _portcullis_admin_v1_ListGrantsRequest__Output } from '../../../portcullis/admin/v1/ListGrantsRequest.js';
import type { ListGrantsResponse as _portcullis_admin_v1_ListGrantsResponse, ListGrantsResponse__Output as _portcullis_admin_v1_ListGrantsResponse__Output } from '../../../portcullis/admin/v1/ListGrantsResponse.js';
import type { ListRequestsRequest as _portcullis_admin_v1_ListRequestsRequest, ListRequestsRequest__Output as _portcullis_admin_v1_ListRequestsRequest__Output } from '../../../portcullis/admin/v1/ListRequestsRequest.js';
import type { ListRequestsResponse as _portcullis_admin_v1_ListRequestsResponse, ListRequestsResponse__Output as _portcullis_admin_v1_ListRequestsResponse__Output } from '../../../portcullis/admin/v1/ListRequestsResponse.js';
import type { ListRevocationsRequest as _portcullis_admin_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _portcullis_admin_v1_ListRevocationsRequest__Output } from '../../../portcullis/admin/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _portcullis_admin_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _portcullis_admin_v1_ListRevocationsResponse__Output } from '../../../portcullis/admin/v1/ListRevocationsResponse.js';
import type { ListSessionsRequest as _portcullis_admin_v1_ListSessionsRequest, ListSessionsRequest__Output as _portcullis_admin_v1_ListSessionsRequest__Output } from '../../../portcullis/admin/v1/ListSessionsRequest.js';
import type { ListSessionsResponse as _portcullis_admin_v1_ListSessionsResponse, ListSessionsResponse__Output as _portcullis_admin_v1_ListSessionsResponse__Output } from '../../../portcullis/admin/v1/ListSessionsResponse.js';
import type { PublishBundleRequest as _portcullis_admin_v1_PublishBundleRequest, PublishBundleRequest__Output as _portcullis_admin_v1_PublishBundleRequest__Output } from '../../../portcullis/admin/v1/PublishBundleRequest.js';
import type { PublishBundleResponse as _portcullis_admin_v1_PublishBundleResponse, PublishBundleResponse__Output as _portcullis_admin_v1_PublishBundleResponse__Output } from '../../../portcullis/admin/v1/PublishBundleResponse.js';
import type { QueryDecisionsRequest as _portcullis_admin_v1_QueryDecisionsRequest, QueryDecisionsRequest__Output as _portcullis_admin_v1_QueryDecisionsRequest__Output } from '../../../portcullis/admin/v1/QueryDecisionsRequest.js';
import type { QueryDecisionsResponse as _portcullis_admin_v1_QueryDecisionsResponse, QueryDecisionsResponse__Output as _portcullis_admin_v1_QueryDecisionsResponse__Output } from '../../../portcullis/admin/v1/QueryDecisionsResponse.js';
import type { ReplayDecisionsRequest as _portcullis_admin_v1_ReplayDecisionsRequest, ReplayDecisionsRequest__Output as _portcullis_admin_v1_ReplayDecisionsRequest__Output } from '../../../portcullis/admin/v1/ReplayDecisionsRequest.js';
import type { ReplayDecisionsResponse as _portcullis_admin_v1_ReplayDecisionsResponse, ReplayDecisionsResponse__Output as _portcullis_admin_v1_ReplayDecisionsResponse__Output } from '../../../portcullis/admin/v1/ReplayDecisionsResponse.js';
import type { RequestAccessRequest as _portcullis_admin_v1_RequestAccessRequest, RequestAccessRequest__Output as _portcullis_admin_v1_RequestAccessRequest__Output } from '../../../portcullis/admin/v1/RequestAccessRequest.js';
import type { RevokeGrantRequest as _portcullis_admin_v1_RevokeGrantRequest, RevokeGrantRequest__Output as _portcullis_admin_v1_RevokeGrantRequest__Output } from '../../../portcullis/admin/v1/RevokeGrantRequest.js';
import type { RevokeResponse as _portcullis_admin_v1_RevokeResponse, RevokeResponse__Output as _portcullis_admin_v1_RevokeResponse__Output } from '../../../portcullis/admin/v1/RevokeResponse.js';
import type { RevokeSessionRequest as _portcullis_admin_v1_RevokeSessionRequest, RevokeSessionRequest__Output as _portcullis_admin_v1_RevokeSessionRequest__Output } from '../../../portcullis/admin/v1/RevokeSessionRequest.js';
import type { RevokeSubjectRequest as _portcullis_admin_v1_RevokeSubjectRequest, RevokeSubjectRequest__Output as _portcullis_admin_v1_RevokeSubjectRequest__Output } from '../../../portcullis/admin/v1/RevokeSubjectRequest.js';
import type { RevokeTokenRequest as _portcullis_admin_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _portcullis_admin_v1_RevokeTokenRequest__Output } from '../../../portcullis/admin/v1/RevokeTokenRequest.js';
import type { ShadowReportRequest as _portcullis_admin_v1_ShadowReportRequest, ShadowReportRequest__Output as _portcullis_admin_v1_ShadowReportRequest__Output } from '../../../portcullis/admin/v1/ShadowReportRequest.js';
import type { ShadowReportResponse as _portcullis_admin_v1_ShadowReportResponse, ShadowReportResponse__Output as _portcullis_admin_v1_ShadowReportResponse__Output } from '../../../portcullis/admin/v1/ShadowReportResponse.js';
import type { SyncPoliciesRequest as _portcullis_admin_v1_SyncPoliciesRequest, SyncPoliciesRequest__Output as _portcullis_admin_v1_SyncPoliciesRequest__Output } from '../../../portcullis/admin/v1/SyncPoliciesRequest.js';
import type { SyncPoliciesResponse as _portcullis_admin_v1_SyncPoliciesResponse, SyncPoliciesResponse__Output as _portcullis_admin_v1_SyncPoliciesResponse__Output } from '../../../portcullis/admin/v1/SyncPoliciesResponse.js';
import type { WatchEventsRequest as _portcullis_admin_v1_WatchEventsRequest, WatchEventsRequest__Output as _portcullis_admin_v1_WatchEventsRequest__Output } from '../../../portcullis/admin/v1/WatchEventsRequest.js';

export interface AdminClient extends grpc.Client {
  ActivateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  ActivateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  ActivateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  ActivateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  activateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  activateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  activateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  activateBundle(argument: _portcullis_admin_v1_ActivateBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ActivateBundleResponse__Output>): grpc.ClientUnaryCall;
  
  ApproveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  ApproveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  ApproveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  ApproveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  approveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  approveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  approveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  approveRequest(argument: _portcullis_admin_v1_DecideRequestRequest, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  
  DenyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  DenyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  DenyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  DenyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  denyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  denyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  denyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  denyRequest(argument: _portcullis_admin_v1_DecideRequestRequest, callback: grpc.requestCallback<_portcullis_admin_v1_DecideRequestResponse__Output>): grpc.ClientUnaryCall;
  
  GetBundle(argument: _portcullis_admin_v1_GetBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _portcullis_admin_v1_GetBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _portcullis_admin_v1_GetBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _portcullis_admin_v1_GetBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _portcullis_admin_v1_GetBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _portcullis_admin_v1_GetBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _portcullis_admin_v1_GetBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _portcullis_admin_v1_GetBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_Bundle__Output>): grpc.ClientUnaryCall;
  
  GetBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  GetBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  GetBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  GetBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  getBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  getBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  getBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  getBundleSources(argument: _portcullis_admin_v1_GetBundleSourcesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_BundleSources__Output>): grpc.ClientUnaryCall;
  
  GetFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  GetFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  GetFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  GetFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  getFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  getFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  getFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  getFleetStatus(argument: _portcullis_admin_v1_GetFleetStatusRequest, callback: grpc.requestCallback<_portcullis_admin_v1_FleetStatus__Output>): grpc.ClientUnaryCall;
  
  Grant(argument: _portcullis_admin_v1_GrantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  Grant(argument: _portcullis_admin_v1_GrantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  Grant(argument: _portcullis_admin_v1_GrantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  Grant(argument: _portcullis_admin_v1_GrantRequest, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  grant(argument: _portcullis_admin_v1_GrantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  grant(argument: _portcullis_admin_v1_GrantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  grant(argument: _portcullis_admin_v1_GrantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  grant(argument: _portcullis_admin_v1_GrantRequest, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  
  ListBundles(argument: _portcullis_admin_v1_ListBundlesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  ListBundles(argument: _portcullis_admin_v1_ListBundlesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  ListBundles(argument: _portcullis_admin_v1_ListBundlesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  ListBundles(argument: _portcullis_admin_v1_ListBundlesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  listBundles(argument: _portcullis_admin_v1_ListBundlesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  listBundles(argument: _portcullis_admin_v1_ListBundlesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  listBundles(argument: _portcullis_admin_v1_ListBundlesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  listBundles(argument: _portcullis_admin_v1_ListBundlesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListBundlesResponse__Output>): grpc.ClientUnaryCall;
  
  ListGrants(argument: _portcullis_admin_v1_ListGrantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  ListGrants(argument: _portcullis_admin_v1_ListGrantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  ListGrants(argument: _portcullis_admin_v1_ListGrantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  ListGrants(argument: _portcullis_admin_v1_ListGrantsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  listGrants(argument: _portcullis_admin_v1_ListGrantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  listGrants(argument: _portcullis_admin_v1_ListGrantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  listGrants(argument: _portcullis_admin_v1_ListGrantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  listGrants(argument: _portcullis_admin_v1_ListGrantsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListGrantsResponse__Output>): grpc.ClientUnaryCall;
  
  ListRequests(argument: _portcullis_admin_v1_ListRequestsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  ListRequests(argument: _portcullis_admin_v1_ListRequestsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  ListRequests(argument: _portcullis_admin_v1_ListRequestsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  ListRequests(argument: _portcullis_admin_v1_ListRequestsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  listRequests(argument: _portcullis_admin_v1_ListRequestsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  listRequests(argument: _portcullis_admin_v1_ListRequestsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  listRequests(argument: _portcullis_admin_v1_ListRequestsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  listRequests(argument: _portcullis_admin_v1_ListRequestsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListRequestsResponse__Output>): grpc.ClientUnaryCall;
  
  ListRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  ListRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  listRevocations(argument: _portcullis_admin_v1_ListRevocationsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListRevocationsResponse__Output>): grpc.ClientUnaryCall;
  
  ListSessions(argument: _portcullis_admin_v1_ListSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portcullis_admin_v1_ListSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portcullis_admin_v1_ListSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  ListSessions(argument: _portcullis_admin_v1_ListSessionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portcullis_admin_v1_ListSessionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portcullis_admin_v1_ListSessionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portcullis_admin_v1_ListSessionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  listSessions(argument: _portcullis_admin_v1_ListSessionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ListSessionsResponse__Output>): grpc.ClientUnaryCall;
  
  PublishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  PublishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  PublishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  PublishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  publishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  publishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  publishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  publishBundle(argument: _portcullis_admin_v1_PublishBundleRequest, callback: grpc.requestCallback<_portcullis_admin_v1_PublishBundleResponse__Output>): grpc.ClientUnaryCall;
  
  QueryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  QueryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  QueryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  QueryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  queryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  queryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  queryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  queryDecisions(argument: _portcullis_admin_v1_QueryDecisionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_QueryDecisionsResponse__Output>): grpc.ClientUnaryCall;
  
  ReplayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  ReplayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  ReplayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  ReplayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  replayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  replayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  replayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  replayDecisions(argument: _portcullis_admin_v1_ReplayDecisionsRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ReplayDecisionsResponse__Output>): grpc.ClientUnaryCall;
  
  RequestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  RequestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  RequestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  RequestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  requestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  requestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  requestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  requestAccess(argument: _portcullis_admin_v1_RequestAccessRequest, callback: grpc.requestCallback<_portcullis_admin_v1_AccessRequest__Output>): grpc.ClientUnaryCall;
  
  RevokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  RevokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  RevokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  RevokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  revokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  revokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  revokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  revokeGrant(argument: _portcullis_admin_v1_RevokeGrantRequest, callback: grpc.requestCallback<_portcullis_admin_v1_GrantResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSession(argument: _portcullis_admin_v1_RevokeSessionRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _portcullis_admin_v1_RevokeSubjectRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  RevokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revokeToken(argument: _portcullis_admin_v1_RevokeTokenRequest, callback: grpc.requestCallback<_portcullis_admin_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  ShadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  ShadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  ShadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  ShadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  shadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  shadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  shadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  shadowReport(argument: _portcullis_admin_v1_ShadowReportRequest, callback: grpc.requestCallback<_portcullis_admin_v1_ShadowReportResponse__Output>): grpc.ClientUnaryCall;
  
  SyncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  SyncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  SyncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  SyncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  syncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  syncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  syncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  syncPolicies(argument: _portcullis_admin_v1_SyncPoliciesRequest, callback: grpc.requestCallback<_portcullis_admin_v1_SyncPoliciesResponse__Output>): grpc.ClientUnaryCall;
  
  WatchEvents(argument: _portcullis_admin_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portcullis_admin_v1_Event__Output>;
  WatchEvents(argument: _portcullis_admin_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portcullis_admin_v1_Event__Output>;
  watchEvents(argument: _portcullis_admin_v1_WatchEventsRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_portcullis_admin_v1_Event__Output>;
  watchEvents(argument: _portcullis_admin_v1_WatchEventsRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_portcullis_admin_v1_Event__Output>;
  
}

export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  ActivateBundle: grpc.handleUnaryCall<_portcullis_admin_v1_ActivateBundleRequest__Output, _portcullis_admin_v1_ActivateBundleResponse>;
  
  ApproveRequest: grpc.handleUnaryCall<_portcullis_admin_v1_DecideRequestRequest__Output, _portcullis_admin_v1_DecideRequestResponse>;
  
  DenyRequest: grpc.handleUnaryCall<_portcullis_admin_v1_DecideRequestRequest__Output, _portcullis_admin_v1_DecideRequestResponse>;
  
  GetBundle: grpc.handleUnaryCall<_portcullis_admin_v1_GetBundleRequest__Output, _portcullis_admin_v1_Bundle>;
  
  GetBundleSources: grpc.handleUnaryCall<_portcullis_admin_v1_GetBundleSourcesRequest__Output, _portcullis_admin_v1_BundleSources>;
  
  GetFleetStatus: grpc.handleUnaryCall<_portcullis_admin_v1_GetFleetStatusRequest__Output, _portcullis_admin_v1_FleetStatus>;
  
  Grant: grpc.handleUnaryCall<_portcullis_admin_v1_GrantRequest__Output, _portcullis_admin_v1_GrantResponse>;
  
  ListBundles: grpc.handleUnaryCall<_portcullis_admin_v1_ListBundlesRequest__Output, _portcullis_admin_v1_ListBundlesResponse>;
  
  ListGrants: grpc.handleUnaryCall<_portcullis_admin_v1_ListGrantsRequest__Output, _portcullis_admin_v1_ListGrantsResponse>;
  
  ListRequests: grpc.handleUnaryCall<_portcullis_admin_v1_ListRequestsRequest__Output, _portcullis_admin_v1_ListRequestsResponse>;
  
  ListRevocations: grpc.handleUnaryCall<_portcullis_admin_v1_ListRevocationsRequest__Output, _portcullis_admin_v1_ListRevocationsResponse>;
  
  ListSessions: grpc.handleUnaryCall<_portcullis_admin_v1_ListSessionsRequest__Output, _portcullis_admin_v1_ListSessionsResponse>;
  
  PublishBundle: grpc.handleUnaryCall<_portcullis_admin_v1_PublishBundleRequest__Output, _portcullis_admin_v1_PublishBundleResponse>;
  
  QueryDecisions: grpc.handleUnaryCall<_portcullis_admin_v1_QueryDecisionsRequest__Output, _portcullis_admin_v1_QueryDecisionsResponse>;
  
  ReplayDecisions: grpc.handleUnaryCall<_portcullis_admin_v1_ReplayDecisionsRequest__Output, _portcullis_admin_v1_ReplayDecisionsResponse>;
  
  RequestAccess: grpc.handleUnaryCall<_portcullis_admin_v1_RequestAccessRequest__Output, _portcullis_admin_v1_AccessRequest>;
  
  RevokeGrant: grpc.handleUnaryCall<_portcullis_admin_v1_RevokeGrantRequest__Output, _portcullis_admin_v1_GrantResponse>;
  
  RevokeSession: grpc.handleUnaryCall<_portcullis_admin_v1_RevokeSessionRequest__Output, _portcullis_admin_v1_RevokeResponse>;
  
  RevokeSubject: grpc.handleUnaryCall<_portcullis_admin_v1_RevokeSubjectRequest__Output, _portcullis_admin_v1_RevokeResponse>;
  
  RevokeToken: grpc.handleUnaryCall<_portcullis_admin_v1_RevokeTokenRequest__Output, _portcullis_admin_v1_RevokeResponse>;
  
  ShadowReport: grpc.handleUnaryCall<_portcullis_admin_v1_ShadowReportRequest__Output, _portcullis_admin_v1_ShadowReportResponse>;
  
  SyncPolicies: grpc.handleUnaryCall<_portcullis_admin_v1_SyncPoliciesRequest__Output, _portcullis_admin_v1_SyncPoliciesResponse>;
  
  WatchEvents: grpc.handleServerStreamingCall<_portcullis_admin_v1_WatchEventsRequest__Output, _portcullis_admin_v1_Event>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  ActivateBundle: MethodDefinition<_portcullis_admin_v1_ActivateBundleRequest, _portcullis_admin_v1_ActivateBundleResponse, _portcullis_admin_v1_ActivateBundleRequest__Output, _portcullis_admin_v1_ActivateBundleResponse__Output>
  ApproveRequest: MethodDefinition<_portcullis_admin_v1_DecideRequestRequest, _portcullis_admin_v1_DecideRequestResponse, _portcullis_admin_v1_DecideRequestRequest__Output, _portcullis_admin_v1_DecideRequestResponse__Output>
  DenyRequest: MethodDefinition<_portcullis_admin_v1_DecideRequestRequest, _portcullis_admin_v1_DecideRequestResponse, _portcullis_admin_v1_DecideRequestRequest__Output, _portcullis_admin_v1_DecideRequestResponse__Output>
  GetBundle: MethodDefinition<_portcullis_admin_v1_GetBundleRequest, _portcullis_admin_v1_Bundle, _portcullis_admin_v1_GetBundleRequest__Output, _portcullis_admin_v1_Bundle__Output>
  GetBundleSources: MethodDefinition<_portcullis_admin_v1_GetBundleSourcesRequest, _portcullis_admin_v1_BundleSources, _portcullis_admin_v1_GetBundleSourcesRequest__Output, _portcullis_admin_v1_BundleSources__Output>
  GetFleetStatus: MethodDefinition<_portcullis_admin_v1_GetFleetStatusRequest, _portcullis_admin_v1_FleetStatus, _portcullis_admin_v1_GetFleetStatusRequest__Output, _portcullis_admin_v1_FleetStatus__Output>
  Grant: MethodDefinition<_portcullis_admin_v1_GrantRequest, _portcullis_admin_v1_GrantResponse, _portcullis_admin_v1_GrantRequest__Output, _portcullis_admin_v1_GrantResponse__Output>
  ListBundles: MethodDefinition<_portcullis_admin_v1_ListBundlesRequest, _portcullis_admin_v1_ListBundlesResponse, _portcullis_admin_v1_ListBundlesRequest__Output, _portcullis_admin_v1_ListBundlesResponse__Output>
  ListGrants: MethodDefinition<_portcullis_admin_v1_ListGrantsRequest, _portcullis_admin_v1_ListGrantsResponse, _portcullis_admin_v1_ListGrantsRequest__Output, _portcullis_admin_v1_ListGrantsResponse__Output>
  ListRequests: MethodDefinition<_portcullis_admin_v1_ListRequestsRequest, _portcullis_admin_v1_ListRequestsResponse, _portcullis_admin_v1_ListRequestsRequest__Output, _portcullis_admin_v1_ListRequestsResponse__Output>
  ListRevocations: MethodDefinition<_portcullis_admin_v1_ListRevocationsRequest, _portcullis_admin_v1_ListRevocationsResponse, _portcullis_admin_v1_ListRevocationsRequest__Output, _portcullis_admin_v1_ListRevocationsResponse__Output>
  ListSessions: MethodDefinition<_portcullis_admin_v1_ListSessionsRequest, _portcullis_admin_v1_ListSessionsResponse, _portcullis_admin_v1_ListSessionsRequest__Output, _portcullis_admin_v1_ListSessionsResponse__Output>
  PublishBundle: MethodDefinition<_portcullis_admin_v1_PublishBundleRequest, _portcullis_admin_v1_PublishBundleResponse, _portcullis_admin_v1_PublishBundleRequest__Output, _portcullis_admin_v1_PublishBundleResponse__Output>
  QueryDecisions: MethodDefinition<_portcullis_admin_v1_QueryDecisionsRequest, _portcullis_admin_v1_QueryDecisionsResponse, _portcullis_admin_v1_QueryDecisionsRequest__Output, _portcullis_admin_v1_QueryDecisionsResponse__Output>
  ReplayDecisions: MethodDefinition<_portcullis_admin_v1_ReplayDecisionsRequest, _portcullis_admin_v1_ReplayDecisionsResponse, _portcullis_admin_v1_ReplayDecisionsRequest__Output, _portcullis_admin_v1_ReplayDecisionsResponse__Output>
  RequestAccess: MethodDefinition<_portcullis_admin_v1_RequestAccessRequest, _portcullis_admin_v1_AccessRequest, _portcullis_admin_v1_RequestAccessRequest__Output, _portcullis_admin_v1_AccessRequest__Output>
  RevokeGrant: MethodDefinition<_portcullis_admin_v1_RevokeGrantRequest, _portcullis_admin_v1_GrantResponse, _portcullis_admin_v1_RevokeGrantRequest__Output, _portcullis_admin_v1_GrantResponse__Output>
  RevokeSession: MethodDefinition<_portcullis_admin_v1_RevokeSessionRequest, _portcullis_admin_v1_RevokeResponse, _portcullis_admin_v1_RevokeSessionRequest__Output, _portcullis_admin_v1_RevokeResponse__Output>
  RevokeSubject: MethodDefinition<_portcullis_admin_v1_RevokeSubjectRequest, _portcullis_admin_v1_RevokeResponse, _portcullis_admin_v1_RevokeSubjectRequest__Output, _portcullis_admin_v1_RevokeResponse__Output>
  RevokeToken: MethodDefinition<_portcullis_admin_v1_RevokeTokenRequest, _portcullis_admin_v1_RevokeResponse, _portcullis_admin_v1_RevokeTokenRequest__Output, _portcullis_admin_v1_RevokeResponse__Output>
  ShadowReport: MethodDefinition<_portcullis_admin_v1_ShadowReportRequest, _portcullis_admin_v1_ShadowReportResponse, _portcullis_admin_v1_ShadowReportRequest__Output, _portcullis_admin_v1_ShadowReportResponse__Output>
  SyncPolicies: MethodDefinition<_portcullis_admin_v1_SyncPoliciesRequest, _portcullis_admin_v1_SyncPoliciesResponse, _portcullis_admin_v1_SyncPoliciesRequest__Output, _portcullis_admin_v1_SyncPoliciesResponse__Output>
  WatchEvents: MethodDefinition<_portcullis_admin_v1_WatchEventsRequest, _portcullis_admin_v1_Event, _portcullis_admin_v1_WatchEventsRequest__Output, _portcullis_admin_v1_Event__Output>
}
