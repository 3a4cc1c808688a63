/**
 * The cdk-nag (AwsSolutions) findings this deployment accepts, each acknowledged on the one
 * construct it concerns, with the reason. Any other finding fails `cdk synth` (and the tests).
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { LambdaRedisPoolStack } from './stack.js';

/** The policies Lambda's own documentation prescribes for a function's role in a VPC. */
const LAMBDA_MANAGED_POLICIES = {
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]':
    'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents, the minimum for a function to write its logs; AWS maintains it as the runtime changes.',
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]':
    'AWSLambdaVPCAccessExecutionRole grants only the EC2 network-interface actions Lambda needs to attach the function to its VPC subnets; those actions do not support resource-level permissions, so a hand-written policy would need the same wildcard.',
} as const;

export function acknowledgeFindings(stack: LambdaRedisPoolStack): void {
  for (const fn of Object.values(stack.functions)) {
    acknowledge(fn.role ?? fn, LAMBDA_MANAGED_POLICIES);
  }

  if (!stack.cache.serverless) {
    acknowledge(stack.cache.resource, {
      'AwsSolutions-AEC6':
        stack.cache.auth === 'none'
          ? 'auth=none, an explicit opt-out at deploy time (-c auth=none) for clients that cannot use IAM tokens; a static AUTH password is what this stack refuses to have. The cache requires TLS, sits in subnets without internet access and admits only the functions’ security group on its port. The default, auth=iam, authenticates every connection with an IAM token.'
          : 'Authentication is IAM: the replication group uses an RBAC user group whose only enabled user authenticates with IAM (the default user is off). The rule checks for a static AUTH token, which IAM authentication replaces.',
    });
  }

  const { api, methods } = stack.api;
  acknowledge(api, {
    'AwsSolutions-APIG2':
      'Each function validates its own parameters and answers one 400 naming every bad one, identically behind the local API and API Gateway (test/functions and test/local assert it); a gateway validator would answer differently from the local API and duplicate the contract.',
  });
  const cloudWatchRole = api.node.tryFindChild('CloudWatchRole');
  if (cloudWatchRole !== undefined) {
    acknowledge(cloudWatchRole, {
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]':
        'The role API Gateway assumes to write access and execution logs (the stage’s logging requires it); AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy for exactly that and only API Gateway may assume the role.',
    });
  }
  acknowledge(api.deploymentStage, {
    'AwsSolutions-APIG3':
      'No WAF web ACL on a demo API: the throughput route accepts only SigV4-signed requests (AWS_IAM), the health route is a cheap PING, and both are throttled per route and per stage; a web ACL costs a monthly fee and can be associated with the stage by its owner.',
  });
  for (const { route, method } of methods) {
    const path = route.resource;
    if (route.auth === 'iam') {
      acknowledge(method, {
        'AwsSolutions-COG4': `${method.httpMethod} ${path} requires AWS_IAM (SigV4) authorization: callers are IAM principals (the throughput CLI signs with the AWS credential chain), not Cognito users.`,
      });
    } else {
      acknowledge(method, {
        'AwsSolutions-APIG4': `${method.httpMethod} ${path} is a public health check by design (load balancers and monitors call it unauthenticated); it returns the PING time and pool counters only, never data or secrets, and is throttled on its own.`,
        'AwsSolutions-COG4': `${method.httpMethod} ${path} is a public health check by design; see AwsSolutions-APIG4.`,
      });
    }
  }
}

function acknowledge(scope: IConstruct, reasons: Readonly<Record<string, string>>): void {
  Validations.of(scope).acknowledge(
    ...Object.entries(reasons).map(([id, reason]) => ({ id, reason })),
  );
}
