// cdk-nag's AwsSolutions rules over every variant of the stack: no finding may be left
// unacknowledged, and each acknowledgement carries a reason a reviewer can read. `cdk synth`
// runs the same checks (lib/app.ts) and fails on a finding; test/cdk/bundles.test.ts runs it.
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, test } from 'vitest';
import { DISCOVERY_VARIANTS, synthesize, VARIANTS } from './support.js';

/** Every acknowledgement in the construct tree: rule id → reason, with where it was made. */
function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id,
          reason,
        })),
      ),
  );
}

describe.each([...VARIANTS, ...DISCOVERY_VARIANTS])('cdk-nag AwsSolutions: $name', (variant) => {
  test('no unacknowledged finding; every acknowledgement has a reason', () => {
    const { app } = synthesize(variant.context);
    const report = new AwsSolutionsChecks(app).validateScope(app);
    const findings = report.violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) =>
          `${violation.ruleName} at ${resource.constructPath ?? resource.resourceLogicalId}`,
      ),
    );
    expect(findings).toEqual([]);

    const acks = acknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // A reason says why, not just "accepted": a sentence or more.
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(60);
    }
  });
});

test('the checks are live: a finding that is not acknowledged is reported', () => {
  const { app, stack } = synthesize({});
  // A security group open to the world, acknowledged nowhere.
  stack.cache.securityGroup.connections.allowFromAnyIpv4(stack.cache.ports);
  const report = new AwsSolutionsChecks(app).validateScope(app);
  expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-EC23');
});
