// Runs the Swagger CLI plugin under ts-jest, as `nest build` does, so the e2e suites see the same OpenAPI document.
const plugin = require('@nestjs/swagger/plugin');

module.exports.name = 'pairwatch-swagger-plugin';
module.exports.version = 1;
module.exports.factory = (compiler) =>
  plugin.before(
    { introspectComments: true, classValidatorShim: true, dtoFileNameSuffix: ['.dto.ts'] },
    compiler.program,
  );
