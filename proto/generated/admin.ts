import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AccessRequest as _portcullis_admin_v1_AccessRequest, AccessRequest__Output as _portcullis_admin_v1_AccessRequest__Output } from './portcullis/admin/v1/AccessRequest.js';
import type { ActivateBundleRequest as _portcullis_admin_v1_ActivateBundleRequest, ActivateBundleRequest__Output as _portcullis_admin_v1_ActivateBundleRequest__Output } from './portcullis/admin/v1/ActivateBundleRequest.js';
import type { ActivateBundleResponse as _portcullis_admin_v1_ActivateBundleResponse, ActivateBundleResponse__Output as _portcullis_admin_v1_ActivateBundleResponse__Output } from './portcullis/admin/v1/ActivateBundleResponse.js';
import type { AdminClient as _portcullis_admin_v1_AdminClient, AdminDefinition as _portcullis_admin_v1_AdminDefinition } from './portcullis/admin/v1/Admin.js';
import type { Bundle as _portcullis_admin_v1_Bundle, Bundle__Output as _portcullis_admin_v1_Bundle__Output } from './portcullis/admin/v1/Bundle.js';
import type { BundleSources as _portcullis_admin_v1_BundleSources, BundleSources__Output as _portcullis_admin_v1_BundleSources__Output } from './portcullis/admin/v1/BundleSources.js';
import type { Canary as _portcullis_admin_v1_Canary, Canary__Output as _portcullis_admin_v1_Canary__Output } from './portcullis/admin/v1/Canary.js';
import type { DataPlane as _portcullis_admin_v1_DataPlane, DataPlane__Output as _portcullis_admin_v1_DataPlane__Output } from './portcullis/admin/v1/DataPlane.js';
import type { DecideRequestRequest as _portcullis_admin_v1_DecideRequestRequest, DecideRequestRequest__Output as _portcullis_admin_v1_DecideRequestRequest__Output } from './portcullis/admin/v1/DecideRequestRequest.js';
import type { DecideRequestResponse as _portcullis_admin_v1_DecideRequestResponse, DecideRequestResponse__Output as _portcullis_admin_v1_DecideRequestResponse__Output } from './portcullis/admin/v1/DecideRequestResponse.js';
import type { Decision as _portcullis_admin_v1_Decision, Decision__Output as _portcullis_admin_v1_Decision__Output } from './portcullis/admin/v1/Decision.js';
import type { DecisionFlip as _portcullis_admin_v1_DecisionFlip, DecisionFlip__Output as _portcullis_admin_v1_DecisionFlip__Output } from './portcullis/admin/v1/DecisionFlip.js';
import type { DisagreementGroup as _portcullis_admin_v1_DisagreementGroup, DisagreementGroup__Output as _portcullis_admin_v1_DisagreementGroup__Output } from './portcullis/admin/v1/DisagreementGroup.js';
import type { Event as _portcullis_admin_v1_Event, Event__Output as _portcullis_admin_v1_Event__Output } from './portcullis/admin/v1/Event.js';
import type { FleetStatus as _portcullis_admin_v1_FleetStatus, FleetStatus__Output as _portcullis_admin_v1_FleetStatus__Output } from './portcullis/admin/v1/FleetStatus.js';
import type { GetBundleRequest as _portcullis_admin_v1_GetBundleRequest, GetBundleRequest__Output as _portcullis_admin_v1_GetBundleRequest__Output } from './portcullis/admin/v1/GetBundleRequest.js';
import type { GetBundleSourcesRequest as _portcullis_admin_v1_GetBundleSourcesRequest, GetBundleSourcesRequest__Output as _portcullis_admin_v1_GetBundleSourcesRequest__Output } from './portcullis/admin/v1/GetBundleSourcesRequest.js';
import type { GetFleetStatusRequest as _portcullis_admin_v1_GetFleetStatusRequest, GetFleetStatusRequest__Output as _portcullis_admin_v1_GetFleetStatusRequest__Output } from './portcullis/admin/v1/GetFleetStatusRequest.js';
import type { GrantMessage as _portcullis_admin_v1_GrantMessage, GrantMessage__Output as _portcullis_admin_v1_GrantMessage__Output } from './portcullis/admin/v1/GrantMessage.js';
import type { GrantRequest as _portcullis_admin_v1_GrantRequest, GrantRequest__Output as _portcullis_admin_v1_GrantRequest__Output } from './portcullis/admin/v1/GrantRequest.js';
import type { GrantResponse as _portcullis_admin_v1_GrantResponse, GrantResponse__Output as _portcullis_admin_v1_GrantResponse__Output } from './portcullis/admin/v1/GrantResponse.js';
import type { ListBundlesRequest as _portcullis_admin_v1_ListBundlesRequest, ListBundlesRequest__Output as _portcullis_admin_v1_ListBundlesRequest__Output } from './portcullis/admin/v1/ListBundlesRequest.js';
import type { ListBundlesResponse as _portcullis_admin_v1_ListBundlesResponse, ListBundlesResponse__Output as _portcullis_admin_v1_ListBundlesResponse__Output } from './portcullis/admin/v1/ListBundlesResponse.js';
import type { ListGrantsRequest as _portcullis_admin_v1_ListGrantsRequest, ListGrantsRequest__Output as _portcullis_admin_v1_ListGrantsRequest__Output } from './portcullis/admin/v1/ListGrantsRequest.js';
import type { ListGrantsResponse as _portcullis_admin_v1_ListGrantsResponse, ListGrantsResponse__Output as _portcullis_admin_v1_ListGrantsResponse__Output } from './portcullis/admin/v1/ListGrantsResponse.js';
import type { ListRequestsRequest as _portcullis_admin_v1_ListRequestsRequest, ListRequestsRequest__Output as _portcullis_admin_v1_ListRequestsRequest__Output } from './portcullis/admin/v1/ListRequestsRequest.js';
import type { ListRequestsResponse as _portcullis_admin_v1_ListRequestsResponse, ListRequestsResponse__Output as _portcullis_admin_v1_ListRequestsResponse__Output } from './portcullis/admin/v1/ListRequestsResponse.js';
import type { ListRevocationsRequest as _portcullis_admin_v1_ListRevocationsRequest, ListRevocationsRequest__Output as _portcullis_admin_v1_ListRevocationsRequest__Output } from './portcullis/admin/v1/ListRevocationsRequest.js';
import type { ListRevocationsResponse as _portcullis_admin_v1_ListRevocationsResponse, ListRevocationsResponse__Output as _portcullis_admin_v1_ListRevocationsResponse__Output } from './portcullis/admin/v1/ListRevocationsResponse.js';
import type { ListSessionsRequest as _portcullis_admin_v1_ListSessionsRequest, ListSessionsRequest__Output as _portcullis_admin_v1_ListSessionsRequest__Output } from './portcullis/admin/v1/ListSessionsRequest.js';
import type { ListSessionsResponse as _portcullis_admin_v1_ListSessionsResponse, ListSessionsResponse__Output as _portcullis_admin_v1_ListSessionsResponse__Output } from './portcullis/admin/v1/ListSessionsResponse.js';
import type { PolicyError as _portcullis_admin_v1_PolicyError, PolicyError__Output as _portcullis_admin_v1_PolicyError__Output } from './portcullis/admin/v1/PolicyError.js';
import type { PublishBundleRequest as _portcullis_admin_v1_PublishBundleRequest, PublishBundleRequest__Output as _portcullis_admin_v1_PublishBundleRequest__Output } from './portcullis/admin/v1/PublishBundleRequest.js';
import type { PublishBundleResponse as _portcullis_admin_v1_PublishBundleResponse, PublishBundleResponse__Output as _portcullis_admin_v1_PublishBundleResponse__Output } from './portcullis/admin/v1/PublishBundleResponse.js';
import type { QueryDecisionsRequest as _portcullis_admin_v1_QueryDecisionsRequest, QueryDecisionsRequest__Output as _portcullis_admin_v1_QueryDecisionsRequest__Output } from './portcullis/admin/v1/QueryDecisionsRequest.js';
import type { QueryDecisionsResponse as _portcullis_admin_v1_QueryDecisionsResponse, QueryDecisionsResponse__Output as _portcullis_admin_v1_QueryDecisionsResponse__Output } from './portcullis/admin/v1/QueryDecisionsResponse.js';
import type { ReplayDecisionsRequest as _portcullis_admin_v1_ReplayDecisionsRequest, ReplayDecisionsRequest__Output as _portcullis_admin_v1_ReplayDecisionsRequest__Output } from './portcullis/admin/v1/ReplayDecisionsRequest.js';
import type { ReplayDecisionsResponse as _portcullis_admin_v1_ReplayDecisionsResponse, ReplayDecisionsResponse__Output as _portcullis_admin_v1_ReplayDecisionsResponse__Output } from './portcullis/admin/v1/ReplayDecisionsResponse.js';
import type { RequestAccessRequest as _portcullis_admin_v1_RequestAccessRequest, RequestAccessRequest__Output as _portcullis_admin_v1_RequestAccessRequest__Output } from './portcullis/admin/v1/RequestAccessRequest.js';
import type { Revocation as _portcullis_admin_v1_Revocation, Revocation__Output as _portcullis_admin_v1_Revocation__Output } from './portcullis/admin/v1/Revocation.js';
import type { RevocationAck as _portcullis_admin_v1_RevocationAck, RevocationAck__Output as _portcullis_admin_v1_RevocationAck__Output } from './portcullis/admin/v1/RevocationAck.js';
import type { RevokeGrantRequest as _portcullis_admin_v1_RevokeGrantRequest, RevokeGrantRequest__Output as _portcullis_admin_v1_RevokeGrantRequest__Output } from './portcullis/admin/v1/RevokeGrantRequest.js';
import type { RevokeResponse as _portcullis_admin_v1_RevokeResponse, RevokeResponse__Output as _portcullis_admin_v1_RevokeResponse__Output } from './portcullis/admin/v1/RevokeResponse.js';
import type { RevokeSessionRequest as _portcullis_admin_v1_RevokeSessionRequest, RevokeSessionRequest__Output as _portcullis_admin_v1_RevokeSessionRequest__Output } from './portcullis/admin/v1/RevokeSessionRequest.js';
import type { RevokeSubjectRequest as _portcullis_admin_v1_RevokeSubjectRequest, RevokeSubjectRequest__Output as _portcullis_admin_v1_RevokeSubjectRequest__Output } from './portcullis/admin/v1/RevokeSubjectRequest.js';
import type { RevokeTokenRequest as _portcullis_admin_v1_RevokeTokenRequest, RevokeTokenRequest__Output as _portcullis_admin_v1_RevokeTokenRequest__Output } from './portcullis/admin/v1/RevokeTokenRequest.js';
import type { Session as _portcullis_admin_v1_Session, Session__Output as _portcullis_admin_v1_Session__Output } from './portcullis/admin/v1/Session.js';
import type { ShadowReportRequest as _portcullis_admin_v1_ShadowReportRequest, ShadowReportRequest__Output as _portcullis_admin_v1_ShadowReportRequest__Output } from './portcullis/admin/v1/ShadowReportRequest.js';
import type { ShadowReportResponse as _portcullis_admin_v1_ShadowReportResponse, ShadowReportResponse__Output as _portcullis_admin_v1_ShadowReportResponse__Output } from './portcullis/admin/v1/ShadowReportResponse.js';
import type { ShadowVerdict as _portcullis_admin_v1_ShadowVerdict, ShadowVerdict__Output as _portcullis_admin_v1_ShadowVerdict__Output } from './portcullis/admin/v1/ShadowVerdict.js';
import type { SourceFile as _portcullis_admin_v1_SourceFile, SourceFile__Output as _portcullis_admin_v1_SourceFile__Output } from './portcullis/admin/v1/SourceFile.js';
import type { SyncPoliciesRequest as _portcullis_admin_v1_SyncPoliciesRequest, SyncPoliciesRequest__Output as _portcullis_admin_v1_SyncPoliciesRequest__Output } from './portcullis/admin/v1/SyncPoliciesRequest.js';
import type { SyncPoliciesResponse as _portcullis_admin_v1_SyncPoliciesResponse, SyncPoliciesResponse__Output as _portcullis_admin_v1_SyncPoliciesResponse__Output } from './portcullis/admin/v1/SyncPoliciesResponse.js';
import type { SyncedCommit as _portcullis_admin_v1_SyncedCommit, SyncedCommit__Output as _portcullis_admin_v1_SyncedCommit__Output } from './portcullis/admin/v1/SyncedCommit.js';
import type { WatchEventsRequest as _portcullis_admin_v1_WatchEventsRequest, WatchEventsRequest__Output as _portcullis_admin_v1_WatchEventsRequest__Output } from './portcullis/admin/v1/WatchEventsRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  portcullis: {
    admin: {
      v1: {
        AccessRequest: MessageTypeDefinition<_portcullis_admin_v1_AccessRequest, _portcullis_admin_v1_AccessRequest__Output>
        ActivateBundleRequest: MessageTypeDefinition<_portcullis_admin_v1_ActivateBundleRequest, _portcullis_admin_v1_ActivateBundleRequest__Output>
        ActivateBundleResponse: MessageTypeDefinition<_portcullis_admin_v1_ActivateBundleResponse, _portcullis_admin_v1_ActivateBundleResponse__Output>
        Admin: SubtypeConstructor<typeof grpc.Client, _portcullis_admin_v1_AdminClient> & { service: _portcullis_admin_v1_AdminDefinition }
        Bundle: MessageTypeDefinition<_portcullis_admin_v1_Bundle, _portcullis_admin_v1_Bundle__Output>
        BundleSources: MessageTypeDefinition<_portcullis_admin_v1_BundleSources, _portcullis_admin_v1_BundleSources__Output>
        Canary: MessageTypeDefinition<_portcullis_admin_v1_Canary, _portcullis_admin_v1_Canary__Output>
        DataPlane: MessageTypeDefinition<_portcullis_admin_v1_DataPlane, _portcullis_admin_v1_DataPlane__Output>
        DecideRequestRequest: MessageTypeDefinition<_portcullis_admin_v1_DecideRequestRequest, _portcullis_admin_v1_DecideRequestRequest__Output>
        DecideRequestResponse: MessageTypeDefinition<_portcullis_admin_v1_DecideRequestResponse, _portcullis_admin_v1_DecideRequestResponse__Output>
        Decision: MessageTypeDefinition<_portcullis_admin_v1_Decision, _portcullis_admin_v1_Decision__Output>
        DecisionFlip: MessageTypeDefinition<_portcullis_admin_v1_DecisionFlip, _portcullis_admin_v1_DecisionFlip__Output>
        DisagreementGroup: MessageTypeDefinition<_portcullis_admin_v1_DisagreementGroup, _portcullis_admin_v1_DisagreementGroup__Output>
        Event: MessageTypeDefinition<_portcullis_admin_v1_Event, _portcullis_admin_v1_Event__Output>
        FleetStatus: MessageTypeDefinition<_portcullis_admin_v1_FleetStatus, _portcullis_admin_v1_FleetStatus__Output>
        GetBundleRequest: MessageTypeDefinition<_portcullis_admin_v1_GetBundleRequest, _portcullis_admin_v1_GetBundleRequest__Output>
        GetBundleSourcesRequest: MessageTypeDefinition<_portcullis_admin_v1_GetBundleSourcesRequest, _portcullis_admin_v1_GetBundleSourcesRequest__Output>
        GetFleetStatusRequest: MessageTypeDefinition<_portcullis_admin_v1_GetFleetStatusRequest, _portcullis_admin_v1_GetFleetStatusRequest__Output>
        GrantMessage: MessageTypeDefinition<_portcullis_admin_v1_GrantMessage, _portcullis_admin_v1_GrantMessage__Output>
        GrantRequest: MessageTypeDefinition<_portcullis_admin_v1_GrantRequest, _portcullis_admin_v1_GrantRequest__Output>
        GrantResponse: MessageTypeDefinition<_portcullis_admin_v1_GrantResponse, _portcullis_admin_v1_GrantResponse__Output>
        ListBundlesRequest: MessageTypeDefinition<_portcullis_admin_v1_ListBundlesRequest, _portcullis_admin_v1_ListBundlesRequest__Output>
        ListBundlesResponse: MessageTypeDefinition<_portcullis_admin_v1_ListBundlesResponse, _portcullis_admin_v1_ListBundlesResponse__Output>
        ListGrantsRequest: MessageTypeDefinition<_portcullis_admin_v1_ListGrantsRequest, _portcullis_admin_v1_ListGrantsRequest__Output>
        ListGrantsResponse: MessageTypeDefinition<_portcullis_admin_v1_ListGrantsResponse, _portcullis_admin_v1_ListGrantsResponse__Output>
        ListRequestsRequest: MessageTypeDefinition<_portcullis_admin_v1_ListRequestsRequest, _portcullis_admin_v1_ListRequestsRequest__Output>
        ListRequestsResponse: MessageTypeDefinition<_portcullis_admin_v1_ListRequestsResponse, _portcullis_admin_v1_ListRequestsResponse__Output>
        ListRevocationsRequest: MessageTypeDefinition<_portcullis_admin_v1_ListRevocationsRequest, _portcullis_admin_v1_ListRevocationsRequest__Output>
        ListRevocationsResponse: MessageTypeDefinition<_portcullis_admin_v1_ListRevocationsResponse, _portcullis_admin_v1_ListRevocationsResponse__Output>
        ListSessionsRequest: MessageTypeDefinition<_portcullis_admin_v1_ListSessionsRequest, _portcullis_admin_v1_ListSessionsRequest__Output>
        ListSessionsResponse: MessageTypeDefinition<_portcullis_admin_v1_ListSessionsResponse, _portcullis_admin_v1_ListSessionsResponse__Output>
        PolicyError: MessageTypeDefinition<_portcullis_admin_v1_PolicyError, _portcullis_admin_v1_PolicyError__Output>
        PublishBundleRequest: MessageTypeDefinition<_portcullis_admin_v1_PublishBundleRequest, _portcullis_admin_v1_PublishBundleRequest__Output>
        PublishBundleResponse: MessageTypeDefinition<_portcullis_admin_v1_PublishBundleResponse, _portcullis_admin_v1_PublishBundleResponse__Output>
        QueryDecisionsRequest: MessageTypeDefinition<_portcullis_admin_v1_QueryDecisionsRequest, _portcullis_admin_v1_QueryDecisionsRequest__Output>
        QueryDecisionsResponse: MessageTypeDefinition<_portcullis_admin_v1_QueryDecisionsResponse, _portcullis_admin_v1_QueryDecisionsResponse__Output>
        ReplayDecisionsRequest: MessageTypeDefinition<_portcullis_admin_v1_ReplayDecisionsRequest, _portcullis_admin_v1_ReplayDecisionsRequest__Output>
        ReplayDecisionsResponse: MessageTypeDefinition<_portcullis_admin_v1_ReplayDecisionsResponse, _portcullis_admin_v1_ReplayDecisionsResponse__Output>
        RequestAccessRequest: MessageTypeDefinition<_portcullis_admin_v1_RequestAccessRequest, _portcullis_admin_v1_RequestAccessRequest__Output>
        Revocation: MessageTypeDefinition<_portcullis_admin_v1_Revocation, _portcullis_admin_v1_Revocation__Output>
        RevocationAck: MessageTypeDefinition<_portcullis_admin_v1_RevocationAck, _portcullis_admin_v1_RevocationAck__Output>
        RevokeGrantRequest: MessageTypeDefinition<_portcullis_admin_v1_RevokeGrantRequest, _portcullis_admin_v1_RevokeGrantRequest__Output>
        RevokeResponse: MessageTypeDefinition<_portcullis_admin_v1_RevokeResponse, _portcullis_admin_v1_RevokeResponse__Output>
        RevokeSessionRequest: MessageTypeDefinition<_portcullis_admin_v1_RevokeSessionRequest, _portcullis_admin_v1_RevokeSessionRequest__Output>
        RevokeSubjectRequest: MessageTypeDefinition<_portcullis_admin_v1_RevokeSubjectRequest, _portcullis_admin_v1_RevokeSubjectRequest__Output>
        RevokeTokenRequest: MessageTypeDefinition<_portcullis_admin_v1_RevokeTokenRequest, _portcullis_admin_v1_RevokeTokenRequest__Output>
        Session: MessageTypeDefinition<_portcullis_admin_v1_Session, _portcullis_admin_v1_Session__Output>
        ShadowReportRequest: MessageTypeDefinition<_portcullis_admin_v1_ShadowReportRequest, _portcullis_admin_v1_ShadowReportRequest__Output>
        ShadowReportResponse: MessageTypeDefinition<_portcullis_admin_v1_ShadowReportResponse, _portcullis_admin_v1_ShadowReportResponse__Output>
        ShadowVerdict: MessageTypeDefinition<_portcullis_admin_v1_ShadowVerdict, _portcullis_admin_v1_ShadowVerdict__Output>
        SourceFile: MessageTypeDefinition<_portcullis_admin_v1_SourceFile, _portcullis_admin_v1_SourceFile__Output>
        SyncPoliciesRequest: MessageTypeDefinition<_portcullis_admin_v1_SyncPoliciesRequest, _portcullis_admin_v1_SyncPoliciesRequest__Output>
        SyncPoliciesResponse: MessageTypeDefinition<_portcullis_admin_v1_SyncPoliciesResponse, _portcullis_admin_v1_SyncPoliciesResponse__Output>
        SyncedCommit: MessageTypeDefinition<_portcullis_admin_v1_SyncedCommit, _portcullis_admin_v1_SyncedCommit__Output>
        WatchEventsRequest: MessageTypeDefinition<_portcullis_admin_v1_WatchEventsRequest, _portcullis_admin_v1_WatchEventsRequest__Output>
      }
    }
  }
}

