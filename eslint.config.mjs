// AppSync's own lint rules (the APPSYNC_JS runtime's restrictions) on the resolver code that
// cdk/ deploys, and on the examples' resolvers. The recommended set needs type information,
// hence the project service.
import appsync from '@aws-appsync/eslint-plugin';

const resolvers = ['graphql/resolvers/**/*.js', 'examples/*/*.js'];

export default [
  {
    files: resolvers,
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['graphql/resolvers/*.js', 'examples/*/*.js'] } },
    },
  },
  { ...appsync.configs.recommended, files: resolvers },
];
