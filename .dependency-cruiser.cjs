// The rules of the house (DESIGN.md "Rules of the house", ARCHITECTURE.md), checked by `npm run layers`
// in `npm test`: libs/ never imports apps/, and inside apps/api/src a folder imports only folders below it.
// No exceptions: a dependency that breaks a rule is moved, not listed here.
//
// The order, lowest first (a folder may import any folder of a lower level, none of its own level or above):
//   1. config                      validated settings: imports no other folder of the API
//   2. common                      plumbing shared by all (validation, errors, guards, the background loop)
//   3. telemetry                   the metrics instruments, which every part below may move
//   4. doors                       one class per external system; doors do not import each other
//   5. features                    the API's subjects; one feature may use another, never both ways
//   6. supervisor                  reconciles monitors with workloads
//   7. metrics, health             read everything below
//   8. app.module, app.setup, data-source, main, cli   wire it all
// A new folder is placed here before it is used (the check fails on a folder it does not know).

const API = '^apps/api/src/';
const DOORS = ['database', 'redis', 'runtime', 'uphold', 'notify'];
const FEATURES = ['monitors', 'alerts', 'webhooks', 'channels', 'analytics', 'dashboard'];
const LEVELS = [
  { name: 'config', folders: ['config'] },
  { name: 'common', folders: ['common'] },
  { name: 'telemetry', folders: ['telemetry'] },
  { name: 'doors', folders: DOORS },
  { name: 'features', folders: FEATURES },
  { name: 'supervisor', folders: ['supervisor'] },
  { name: 'observers', folders: ['metrics', 'health'] },
];
const TOP = ['app\\.module\\.ts$', 'app\\.setup\\.ts$', 'data-source\\.ts$', 'main\\.ts$', 'cli/'];
const KNOWN = [...LEVELS.flatMap((level) => level.folders.map((folder) => `${folder}/`)), ...TOP];

const folders = (names) => `${API}(${names.join('|')})/`;

/**
 * For each level: no import of a folder above it, nor of another folder of its own level, except that a
 * feature may import another feature (rule features-one-way keeps that one way).
 */
const levelRules = LEVELS.map((level, index) => {
  const forbidden = [
    ...LEVELS.slice(index + 1).flatMap((higher) => higher.folders),
    ...(level.name === 'features' ? [] : level.folders),
  ];
  return {
    name: `layers-${level.name}`,
    severity: 'error',
    comment: `${level.folders.join(', ')} may import only the folders below (ARCHITECTURE.md)`,
    from: { path: folders(level.folders) },
    to: {
      path: `${API}(${[...forbidden.map((folder) => `${folder}/`), ...TOP].join('|')})`,
      pathNot: `${API}$1/`,
    },
  };
});

module.exports = {
  forbidden: [
    {
      name: 'libs-never-import-apps',
      severity: 'error',
      comment: 'libs/ is shared by every app; it never imports one',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'api-folder-placed',
      severity: 'error',
      comment: 'every folder of apps/api/src has its place in the order (.dependency-cruiser.cjs)',
      from: { path: API, pathNot: `${API}(${KNOWN.join('|')})` },
      to: {},
    },
    ...levelRules,
    {
      name: 'features-one-way',
      severity: 'error',
      comment: 'features may depend on each other one way only: no cycle through two feature folders',
      scope: 'folder',
      from: { path: folders(FEATURES).replace(/\/$/, '') },
      to: { circular: true },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'a module cycle',
      from: { path: '^(apps|libs)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/|\\.spec\\.ts$|/testing/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
