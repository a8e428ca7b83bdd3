// Deterministic demo data: the same ids on every start, so documentation,
// scripts and tests can refer to them. The two labels and two feature sets of
// the documented examples are included verbatim (apart from created_by_email,
// which the docs only show scraper-obfuscated).
import type { AccessArea } from './types.js';
import { ALL_ACCESS_AREAS } from './types.js';
import type { AccountRecord, ApiKeyRecord } from './state.js';
import type { FeatureSetRecord, LabelRecord, NumberRecord } from './model.js';

export const SEED_CLIENT_ACCOUNT_ID = '91c173bb-28d8-4030-9722-8663ff9589f3';
const CREATED_BY_EMAIL = 'sandbox-admin@example.com';

/** The key pair from examples/token-create.request.json, with every access area. */
export const SEED_FULL_ACCESS_KEY = {
  keyId: 'aaaee1b1-7a2f-4c0b-8271-4e2b41c1bf01',
  apiKey: 'caf1694e-b8a4-4082-82fc-105a0a63eafe',
} as const;

/** A key created "for call personalisation only": labels and number management are denied. */
export const SEED_RESTRICTED_KEY = {
  keyId: '3c66fac4-2cff-4981-95c5-ec1cbef19308',
  apiKey: '05d0d120-d36d-4590-bb7c-b2b3e8eb1aa8',
} as const;

const RESTRICTED_ACCESS: AccessArea[] = ALL_ACCESS_AREAS.filter(
  (area) => area !== 'labels' && area !== 'number-management',
);

const LABEL = {
  flowerEra: '255297eb-7f13-44f9-967a-f287ff0f5025',
  testLabelPriority: 'd3c2ff94-beb4-412f-a7d5-daebf9596cfa',
  // Used by both documented feature sets; named after the numbers example's label_name.
  fsPage: '7c7ec202-96cc-4c5f-8b24-23cbc07a2a8a',
  collections: 'f3297e59-587b-4c04-b894-8b6bbd960d55',
  support: '30d9600e-6cf0-4299-a764-f1b49d61e8c4',
} as const;

const LOGO_HOST = 'https://business-priority-media-noneu.truecaller.com/staging/logos';

function label(
  id: string,
  name: string,
  logoFile: string,
  category: number,
  subCategory: number,
  createdAt: string,
): LabelRecord {
  return {
    id,
    name,
    logo_url: `${LOGO_HOST}/${logoFile}`,
    category,
    sub_category: subCategory,
    created_by_email: CREATED_BY_EMAIL,
    created_at: createdAt,
    label_type: 'dynamic',
  };
}

function seedLabels(): LabelRecord[] {
  const labels = [
    label(LABEL.flowerEra, 'FlowerEra', '06930f35-4b9c-4144-b748-9ace309c70d2-1751871235271177747.png', 10, 142, '2025-07-07T06:53:55.402122Z'),
    label(LABEL.testLabelPriority, 'test-label-priority', '06930f35-4b9c-4144-b748-9ace309c70d2-1739786448319894688.png', 1, 16, '2025-02-17T10:00:48.506685Z'),
    label(LABEL.fsPage, 'testLabel from fs page', '91c173bb-28d8-4030-9722-8663ff9589f3-1752660000000000000.png', 4, 31, '2025-07-01T08:30:12.118204Z'),
    label(LABEL.collections, 'Acme Bank Collections', '91c173bb-28d8-4030-9722-8663ff9589f3-1748851200000000000.png', 2, 21, '2025-06-02T08:00:00.000000Z'),
    label(LABEL.support, 'Acme Support', '91c173bb-28d8-4030-9722-8663ff9589f3-1747728000000000000.png', 2, 24, '2025-05-20T08:00:00.000000Z'),
  ];
  return labels.sort((a, b) => b.created_at.localeCompare(a.created_at));
}

// Department → operation → process hierarchy behind the feature sets.
const DEPARTMENT = {
  qa: { id: '8e16b0d3-0953-40d0-9079-2a412363063e', name: 'QA Test new flow edit' },
  listing: { id: '85c87025-35e2-4e68-9257-0517609cfd3d', name: 'Listingdelisting' },
  retail: { id: 'b5e79fcf-5f77-4e50-a73a-22cb10f783d4', name: 'Retail Banking' },
} as const;

/** The account-wide catalogue of calling operations ("Sales", "Delivery", …). */
const CALLING_OPERATION = {
  delivery: { id: '690aa251-122e-4cbc-87a8-8d270fffb218', name: 'Delivery' },
  sales: { id: '0cb2cb40-8c23-44ce-b546-6d9b6b66af88', name: 'Sales' },
  collections: { id: '489bb9f6-1231-44cc-9cb7-1f39be134ce0', name: 'Collections' },
  support: { id: '508d5216-20b9-44ac-8290-40a72967d8bc', name: 'Support' },
} as const;

interface FeatureSetSeed {
  id: string;
  name: string;
  status: string;
  department: { id: string; name: string };
  operationId: string;
  callingOperation: { id: string; name: string };
  process: { id: string; name: string };
  subProcess?: { id: string; name: string };
  labelId: string;
  callReasonId: string;
  callMeBack: boolean;
  survey: boolean;
  createdAt: string;
  /** How many seeded numbers are listed in it. */
  numberCount: number;
}

const FEATURE_SETS: FeatureSetSeed[] = [
  {
    id: '069d2e3a-41e6-41f9-a768-157d7e3bd6b9',
    name: 'prio1',
    status: 'draft',
    department: DEPARTMENT.qa,
    operationId: '14349208-1e61-4f88-81c5-2f55dfc755db',
    callingOperation: CALLING_OPERATION.delivery,
    process: { id: '746c455f-9085-42ec-85a3-203f0633396f', name: 'newProcess' },
    subProcess: { id: '318d5ae4-d2ad-4dc6-898a-861347ce279d', name: 'subPro' },
    labelId: LABEL.fsPage,
    callReasonId: '689f6ce5-c03d-4d96-8af8-c8fb9b52510d',
    callMeBack: false,
    survey: false,
    createdAt: '2025-07-16T10:15:04.800203Z',
    numberCount: 4,
  },
  {
    id: '684de058-3d09-4b05-ba65-3612b5cf616b',
    name: 'New Feature Set-7',
    status: 'draft',
    department: DEPARTMENT.listing,
    operationId: '358328f9-d99e-49ec-927e-28029efb0dde',
    callingOperation: CALLING_OPERATION.sales,
    process: { id: '510ab615-1dda-4cac-97f3-7975e10a4cd5', name: 'Listingdelisting' },
    labelId: LABEL.fsPage,
    callReasonId: 'f435f291-6508-4362-84bb-00100f008544',
    callMeBack: false,
    survey: false,
    createdAt: '2025-07-16T10:12:24.561896Z',
    numberCount: 6,
  },
  {
    // Same name as the next one, in another department: name lookups must be able to be ambiguous.
    id: '75613e68-8c72-4125-8dd6-c207648aff57',
    name: 'Collections',
    status: 'published',
    department: DEPARTMENT.retail,
    operationId: '9b038c58-ffb2-4680-9d36-335229ba4cea',
    callingOperation: CALLING_OPERATION.collections,
    process: { id: 'ec784a84-2ed7-49a7-9eba-dda1b3e5b16b', name: 'Card Dues' },
    labelId: LABEL.collections,
    callReasonId: '095aa3a9-4f1f-4aea-8a43-2a9e2588bd20',
    callMeBack: true,
    survey: false,
    createdAt: '2025-06-10T09:00:00.000000Z',
    numberCount: 14,
  },
  {
    id: '775294a1-46cf-408f-8641-3e1ce72bd620',
    name: 'Collections',
    status: 'published',
    department: DEPARTMENT.listing,
    operationId: '246a71ec-b8ba-43c5-9f55-e080f4755944',
    callingOperation: CALLING_OPERATION.collections,
    process: { id: '5d89c8a9-b62f-46f9-ad09-a926f571f0d0', name: 'Loan Recovery' },
    labelId: LABEL.collections,
    callReasonId: '6a74ec29-efd0-4ea4-ad40-5dabeb4bfeb1',
    callMeBack: false,
    survey: false,
    createdAt: '2025-06-11T09:30:00.000000Z',
    numberCount: 10,
  },
  {
    id: '75bf3ace-5921-4dd6-9bef-e9e9ec43ec56',
    name: 'Delivery Updates',
    status: 'published',
    department: DEPARTMENT.qa,
    operationId: '14349208-1e61-4f88-81c5-2f55dfc755db',
    callingOperation: CALLING_OPERATION.delivery,
    process: { id: '746c455f-9085-42ec-85a3-203f0633396f', name: 'newProcess' },
    subProcess: { id: 'de94f817-8432-4c98-b4d0-32370d15d2c4', name: 'Last Mile' },
    labelId: LABEL.flowerEra,
    callReasonId: 'e2230d1e-c5ac-4527-a53c-14ebe1d0a9ec',
    callMeBack: false,
    survey: true,
    createdAt: '2025-06-20T12:00:00.000000Z',
    numberCount: 10,
  },
  {
    id: '31b403a8-4d69-417c-ba06-31d25a2cd425',
    name: 'Support Callbacks',
    status: 'published',
    department: DEPARTMENT.retail,
    operationId: '5b925988-56e7-4215-80ff-fd9bdd042976',
    callingOperation: CALLING_OPERATION.support,
    process: { id: '30f13b0e-ebfe-4d29-a23c-3ea9bf5d735a', name: 'Customer Care' },
    labelId: LABEL.support,
    callReasonId: '295cbc26-bc24-466d-80a1-553923be57c9',
    callMeBack: true,
    survey: true,
    createdAt: '2025-05-21T07:45:00.000000Z',
    numberCount: 9,
  },
  {
    id: 'b0880853-8af3-4d70-977e-e589a5a0f694',
    name: 'Sales Outreach',
    status: 'published',
    department: DEPARTMENT.retail,
    operationId: '7bdcd8f2-7fbc-437d-b615-aef795b20863',
    callingOperation: CALLING_OPERATION.sales,
    process: { id: '48fd8fc9-8cbc-4292-8b2c-57146b9da9d2', name: 'Cross-sell' },
    labelId: LABEL.testLabelPriority,
    callReasonId: '97cce498-d49f-42ee-8791-2afcdaa092c3',
    callMeBack: false,
    survey: false,
    createdAt: '2025-05-05T15:20:00.000000Z',
    numberCount: 7,
  },
];

function toFeatureSetRecord(seed: FeatureSetSeed): FeatureSetRecord {
  return {
    id: seed.id,
    name: seed.name,
    description: '',
    status: seed.status,
    process_id: seed.subProcess?.id ?? seed.process.id,
    client_account_id: SEED_CLIENT_ACCOUNT_ID,
    label_id: seed.labelId,
    call_reason_id: seed.callReasonId,
    video_caller_id: null,
    business_profile_id: null,
    call_me_back: seed.callMeBack,
    survey: seed.survey,
    department_id: seed.department.id,
    department_name: seed.department.name,
    operation_id: seed.operationId,
    calling_operation_id: seed.callingOperation.id,
    calling_operation_name: seed.callingOperation.name,
    process_name: seed.process.name,
    sub_process_name: seed.subProcess?.name ?? '',
    created_at: seed.createdAt,
    updated_at: seed.createdAt,
    parent_process_id: seed.subProcess ? seed.process.id : null,
  };
}

/** ISO-8601 with microseconds, like the API's timestamps. */
function isoMicros(epochMs: number, micros: number): string {
  return new Date(epochMs).toISOString().slice(0, 19) + '.' + String(micros).padStart(6, '0') + 'Z';
}

function seedNumbers(featureSets: FeatureSetSeed[], labels: LabelRecord[]): NumberRecord[] {
  const labelName = new Map(labels.map((l) => [l.id, l.name]));
  const base = Date.parse('2025-07-20T08:00:00Z');
  const numbers: NumberRecord[] = [];
  featureSets.forEach((fs, fsIndex) => {
    for (let i = 0; i < fs.numberCount; i++) {
      const serial = numbers.length;
      const createdMs = base + serial * 7 * 60_000;
      numbers.push({
        // 91 + 10 digits, unique per feature set and position (e.g. 919810001000).
        phone_number: `91981${String(fsIndex).padStart(2, '0')}${String(1000 + i * 37).padStart(5, '0')}`,
        phone_type: 'verified',
        status: 'listed',
        client_account_id: SEED_CLIENT_ACCOUNT_ID,
        created_by_email: CREATED_BY_EMAIL,
        department: fs.department.name,
        operation: fs.callingOperation.name,
        process: fs.process.name,
        subprocess: fs.subProcess?.name ?? '',
        feature_set_name: fs.name,
        call_me_back: fs.callMeBack ? 'enabled' : 'disabled',
        created_at: isoMicros(createdMs, (serial * 104_729) % 1_000_000),
        updated_at: isoMicros(createdMs + 4_000, (serial * 130_363) % 1_000_000),
        label_name: labelName.get(fs.labelId) ?? '',
        feature_set_id: fs.id,
      });
    }
  });
  return numbers;
}

export interface SeedData {
  account: AccountRecord;
  apiKeys: ApiKeyRecord[];
  labels: LabelRecord[];
  featureSets: FeatureSetRecord[];
  numbers: NumberRecord[];
}

/** Fresh copies on every call: sandboxes never share mutable data. */
export function seedState(): SeedData {
  const labels = seedLabels();
  const featureSets = [...FEATURE_SETS]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .map(toFeatureSetRecord);
  return {
    account: { clientAccountId: SEED_CLIENT_ACCOUNT_ID, createdByEmail: CREATED_BY_EMAIL },
    apiKeys: [
      {
        ...SEED_FULL_ACCESS_KEY,
        clientAccountId: SEED_CLIENT_ACCOUNT_ID,
        name: 'sandbox full access',
        access: new Set(ALL_ACCESS_AREAS),
      },
      {
        ...SEED_RESTRICTED_KEY,
        clientAccountId: SEED_CLIENT_ACCOUNT_ID,
        name: 'sandbox call personalisation only',
        access: new Set(RESTRICTED_ACCESS),
      },
    ],
    labels,
    featureSets,
    numbers: seedNumbers(FEATURE_SETS, labels),
  };
}
