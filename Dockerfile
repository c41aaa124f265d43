# haochaping on an external PostgreSQL: docker run -e DATABASE_URL=postgresql://... -p 8000:8000
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HAOCHAPING_HOST=0.0.0.0 HAOCHAPING_PORT=8000
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /srv haochaping
USER haochaping
WORKDIR /srv
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)" || exit 1
# DATABASE_URL is required here: the embedded database is for development, not containers.
CMD ["sh", "-c", ": \"${DATABASE_URL:?set DATABASE_URL to your PostgreSQL}\" && exec haochaping serve"]
