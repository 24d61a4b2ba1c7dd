// Original file: proto/admin.proto

import type { DisagreementGroup as _portcullis_admin_v1_DisagreementGroup, DisagreementGroup__Output as _portcullis_admin_v1_DisagreementGroup__Output } from '../../../portcullis/admin/v1/DisagreementGroup.js';
import type { Long } from '@grpc/proto-loader';

export interface ShadowReportResponse {
  'revision'?: (string);
  'current'?: (boolean);
  'disagreements'?: (number | string | Long);
  'allow_to_deny'?: (number | string | Long);
  'deny_to_allow'?: (number | string | Long);
  'mask_change'?: (number | string | Long);
  'groups'?: (_portcullis_admin_v1_DisagreementGroup)[];
}

export interface ShadowReportResponse__Output {
  'revision': (string);
  'current': (boolean);
  'disagreements': (number);
  'allow_to_deny': (number);
  'deny_to_allow': (number);
  'mask_change': (number);
  'groups': (_portcullis_admin_v1_DisagreementGroup__Output)[];
}
