// Original file: proto/admin.proto

import type { DecisionFlip as _portcullis_admin_v1_DecisionFlip, DecisionFlip__Output as _portcullis_admin_v1_DecisionFlip__Output } from '../../../portcullis/admin/v1/DecisionFlip.js';
import type { DisagreementGroup as _portcullis_admin_v1_DisagreementGroup, DisagreementGroup__Output as _portcullis_admin_v1_DisagreementGroup__Output } from '../../../portcullis/admin/v1/DisagreementGroup.js';
import type { Long } from '@grpc/proto-loader';

export interface ReplayDecisionsResponse {
  'against'?: (string);
  'replayed'?: (number | string | Long);
  'duration_ms'?: (number | string);
  'decisions_per_s'?: (number | string);
  'allow_to_deny'?: (number | string | Long);
  'deny_to_allow'?: (number | string | Long);
  'mask_change'?: (number | string | Long);
  'flips'?: (_portcullis_admin_v1_DecisionFlip)[];
  'groups'?: (_portcullis_admin_v1_DisagreementGroup)[];
  'evaluations'?: (number | string | Long);
}

export interface ReplayDecisionsResponse__Output {
  'against': (string);
  'replayed': (number);
  'duration_ms': (number);
  'decisions_per_s': (number);
  'allow_to_deny': (number);
  'deny_to_allow': (number);
  'mask_change': (number);
  'flips': (_portcullis_admin_v1_DecisionFlip__Output)[];
  'groups': (_portcullis_admin_v1_DisagreementGroup__Output)[];
  'evaluations': (number);
}
