# One image, two entry points: `operator` (default) and `runtime`.
#   docker build -t jaeger-storage-operator:0.1.0 .
#   docker run jaeger-storage-operator:0.1.0 runtime          # memory backend, default ports
ARG NODE_IMAGE=node:26-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY crds ./crds
# non-root; the same numeric user the runtime pods run as (pod securityContext runAsUser 65532)
USER 65532:65532
EXPOSE 8080 4317 4318 16685 16686 17271 5778 5779 8888
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["operator"]
