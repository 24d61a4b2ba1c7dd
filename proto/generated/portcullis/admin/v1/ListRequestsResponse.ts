// Original file: proto/admin.proto

import type { AccessRequest as _portcullis_admin_v1_AccessRequest, AccessRequest__Output as _portcullis_admin_v1_AccessRequest__Output } from '../../../portcullis/admin/v1/AccessRequest.js';

export interface ListRequestsResponse {
  'requests'?: (_portcullis_admin_v1_AccessRequest)[];
}

export interface ListRequestsResponse__Output {
  'requests': (_portcullis_admin_v1_AccessRequest__Output)[];
}
