// Original file: proto/admin.proto


export interface SyncPoliciesRequest {
}

export interface SyncPoliciesRequest__Output {
}
