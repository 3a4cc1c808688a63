/** Lambda-shaped inputs for calling handlers in-process: a context and an API Gateway event. */
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';

/** A context whose getRemainingTimeInMillis counts down from `timeoutMs`, like Lambda's. */
export function lambdaContext(timeoutMs = 60_000, functionName = 'bench'): Context {
  const deadline = Date.now() + timeoutMs;
  const unsupported = () => {
    throw new Error('legacy callback API not supported');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: 'bench',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

type ApiGetFields = Pick<
  APIGatewayProxyEvent,
  'httpMethod' | 'path' | 'queryStringParameters' | 'body' | 'isBase64Encoded'
>;

/** A REST API (payload 1.0) GET with a query string: the fields the handlers read. */
export function apiGet(path: string, query: Record<string, string>): APIGatewayProxyEvent {
  const event: ApiGetFields = {
    httpMethod: 'GET',
    path,
    queryStringParameters: query,
    body: null,
    isBase64Encoded: false,
  };
  return event as APIGatewayProxyEvent;
}
