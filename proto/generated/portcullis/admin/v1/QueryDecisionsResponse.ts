// Original file: proto/admin.proto

import type { Decision as _portcullis_admin_v1_Decision, Decision__Output as _portcullis_admin_v1_Decision__Output } from '../../../portcullis/admin/v1/Decision.js';

export interface QueryDecisionsResponse {
  'decisions'?: (_portcullis_admin_v1_Decision)[];
  'next_page_token'?: (string);
}

export interface QueryDecisionsResponse__Output {
  'decisions': (_portcullis_admin_v1_Decision__Output)[];
  'next_page_token': (string);
}
