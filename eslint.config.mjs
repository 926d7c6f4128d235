// AppSync's own lint rules (the APPSYNC_JS runtime's restrictions) on the resolver code that
// cdk/ deploys. The recommended set needs type information, hence the project service.
import appsync from '@aws-appsync/eslint-plugin';

export default [
  {
    files: ['graphql/resolvers/**/*.js'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['graphql/resolvers/*.js'] } },
    },
  },
  { ...appsync.configs.recommended, files: ['graphql/resolvers/**/*.js'] },
];
