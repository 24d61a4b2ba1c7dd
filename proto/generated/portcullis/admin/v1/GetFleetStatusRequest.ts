// Original file: proto/admin.proto


export interface GetFleetStatusRequest {
  'include_stale'?: (boolean);
}

export interface GetFleetStatusRequest__Output {
  'include_stale': (boolean);
}
