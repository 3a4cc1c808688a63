/**
 * The ElastiCache API inside a VPC: an interface VPC endpoint for discovery by cache name from
 * subnets without internet access (no NAT). Private DNS is on, so the SDK's usual host name
 * (`elasticache.REGION.amazonaws.com`) resolves to the endpoint's addresses in the VPC and the
 * function needs no endpoint configuration. Its security group admits nobody until a
 * `RedisPoolConnection` with `discovery` admits its function on 443.
 *
 * One per VPC: a VPC takes a single private-DNS endpoint per service, so every function in the
 * VPC shares this one (pass it to each connection).
 */

import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface ElastiCacheApiEndpointProps {
  readonly vpc: ec2.IVpc;
  /**
   * The functions' subnets: the endpoint gets a network interface in each (at most one subnet
   * per AZ). Default: the VPC's default selection (private subnets).
   */
  readonly subnets?: ec2.SubnetSelection;
}

/** HTTPS: the only port the AWS SDK uses to call the API. */
export const ELASTICACHE_API_PORT = ec2.Port.tcp(443);

export class ElastiCacheApiEndpoint extends Construct implements ec2.IConnectable {
  readonly endpoint: ec2.InterfaceVpcEndpoint;
  readonly securityGroup: ec2.SecurityGroup;
  /** The endpoint's security group, on 443: `allowFrom` (or a connection) adds ingress here. */
  readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: ElastiCacheApiEndpointProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'ElastiCache API endpoint: HTTPS only from the functions that discover a cache',
      // An endpoint answers; it never opens connections of its own.
      allowAllOutbound: false,
    });
    this.endpoint = new ec2.InterfaceVpcEndpoint(this, 'Endpoint', {
      vpc: props.vpc,
      service: ec2.InterfaceVpcEndpointAwsService.ELASTICACHE,
      privateDnsEnabled: true,
      ...(props.subnets === undefined ? {} : { subnets: props.subnets }),
      securityGroups: [this.securityGroup],
      // Not open to the VPC's CIDR: only the functions connected with `discovery` get in.
      open: false,
    });
    this.connections = new ec2.Connections({
      securityGroups: [this.securityGroup],
      defaultPort: ELASTICACHE_API_PORT,
    });
  }
}
