// Records the sandbox keeps, and the projections that turn them into the
// documented JSON objects. Records may carry internal fields (ids the public
// objects do not show); always answer through a projection so those never leak
// and the field order matches the documented examples.

/** examples/labels-get.response.200.json */
export interface LabelJson {
  id: string;
  name: string;
  logo_url: string;
  category: number;
  sub_category: number;
  created_by_email: string;
  created_at: string;
  label_type: 'dynamic';
}

export type LabelRecord = LabelJson;

/** examples/feature-sets-get.response.200.json */
export interface FeatureSetJson {
  id: string;
  name: string;
  description: string;
  status: string;
  process_id: string;
  client_account_id: string;
  label_id: string;
  call_reason_id: string;
  video_caller_id: string | null;
  business_profile_id: string | null;
  call_me_back: boolean;
  survey: boolean;
  department_id: string;
  department_name: string;
  operation_id: string;
  calling_operation_id: string;
  calling_operation_name: string;
  process_name: string;
  sub_process_name: string;
  created_at: string;
  updated_at: string;
}

export interface FeatureSetRecord extends FeatureSetJson {
  /**
   * When process_id names a sub-process, the id of its parent process. The
   * process_id filter matches "process or sub-process" (API reference §5.5).
   */
  parent_process_id: string | null;
}

/** One element of examples/numbers-details.response.200.json "numbers". */
export interface NumberJson {
  phone_number: string;
  phone_type: string;
  status: string;
  client_account_id: string;
  created_by_email: string;
  department: string;
  operation: string;
  process: string;
  subprocess: string;
  feature_set_name: string;
  call_me_back: 'enabled' | 'disabled';
  created_at: string;
  updated_at: string;
  label_name: string;
}

export interface NumberRecord extends NumberJson {
  /** The feature set the number is listed in (not shown by the API). */
  feature_set_id: string;
}

export function toLabelJson(label: LabelRecord): LabelJson {
  return {
    id: label.id,
    name: label.name,
    logo_url: label.logo_url,
    category: label.category,
    sub_category: label.sub_category,
    created_by_email: label.created_by_email,
    created_at: label.created_at,
    label_type: label.label_type,
  };
}

export function toFeatureSetJson(fs: FeatureSetRecord): FeatureSetJson {
  return {
    id: fs.id,
    name: fs.name,
    description: fs.description,
    status: fs.status,
    process_id: fs.process_id,
    client_account_id: fs.client_account_id,
    label_id: fs.label_id,
    call_reason_id: fs.call_reason_id,
    video_caller_id: fs.video_caller_id,
    business_profile_id: fs.business_profile_id,
    call_me_back: fs.call_me_back,
    survey: fs.survey,
    department_id: fs.department_id,
    department_name: fs.department_name,
    operation_id: fs.operation_id,
    calling_operation_id: fs.calling_operation_id,
    calling_operation_name: fs.calling_operation_name,
    process_name: fs.process_name,
    sub_process_name: fs.sub_process_name,
    created_at: fs.created_at,
    updated_at: fs.updated_at,
  };
}

export function toNumberJson(n: NumberRecord): NumberJson {
  return {
    phone_number: n.phone_number,
    phone_type: n.phone_type,
    status: n.status,
    client_account_id: n.client_account_id,
    created_by_email: n.created_by_email,
    department: n.department,
    operation: n.operation,
    process: n.process,
    subprocess: n.subprocess,
    feature_set_name: n.feature_set_name,
    call_me_back: n.call_me_back,
    created_at: n.created_at,
    updated_at: n.updated_at,
    label_name: n.label_name,
  };
}
