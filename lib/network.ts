/**
 * Where the cache and the functions live: a new VPC with isolated subnets only (no internet
 * gateway, no NAT: nothing in it can reach or be reached from the internet), or the user's own
 * VPC and subnets, given by id so that synth never looks anything up.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { ImportedVpc } from './settings.js';

export interface Network {
  readonly vpc: ec2.IVpc;
  /** The subnets of the cache and the functions. */
  readonly subnets: ec2.SubnetSelection;
}

export function createNetwork(scope: Construct, imported: ImportedVpc | undefined): Network {
  if (imported !== undefined) {
    const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
      vpcId: imported.vpcId,
      availabilityZones: [...new Set(imported.availabilityZones)],
    });
    const subnets = imported.subnetIds.map((subnetId, i) => {
      const subnet = ec2.Subnet.fromSubnetAttributes(scope, `Subnet${i + 1}`, {
        subnetId,
        availabilityZone: imported.availabilityZones[i],
      });
      Validations.of(subnet).acknowledge({
        id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason:
          'The stack places ENIs and cache nodes in this subnet and never reads or adds routes.',
      });
      return subnet;
    });
    return { vpc, subnets: { subnets } };
  }
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    // Two AZs: the cache's replica and the functions' second ENI go to the other one.
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [
      { name: 'Isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ],
  });
  // Rejected flows only: what a too-narrow security group refused is what one debugs.
  new ec2.FlowLog(scope, 'VpcFlowLog', {
    resourceType: ec2.FlowLogResourceType.fromVpc(vpc),
    trafficType: ec2.FlowLogTrafficType.REJECT,
    destination: ec2.FlowLogDestination.toCloudWatchLogs(
      new logs.LogGroup(scope, 'VpcFlowLogGroup', {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.RETAIN,
      }),
    ),
  });
  return { vpc, subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } };
}
