export default {testEnvironment:'node',roots:['<rootDir>/dist/test/unit'],testMatch:['**/*.test.js'],transform:{}}
