/**
 * `cdk synth` / `cdk deploy` run this (cdk.json). Context options: see lib/settings.ts and the
 * README's Deploy section, e.g. `npx cdk deploy -c cache=serverless`.
 */
import { App } from 'aws-cdk-lib';
import { defineApp } from '../lib/app.js';

const app = new App();
defineApp(app);
app.synth();
